/**
 * One policy's limiter in one isolate: its backend, and in local-first mode the isolate's leases.
 */

import type { Bindings } from "../../env.ts";
import type { CompiledRateLimit } from "../../lib/rate-limit/config.ts";
import { type Decision, failureOf } from "../../lib/rate-limit/decision.ts";
import { LeasePool } from "../../lib/rate-limit/lease.ts";
import type { LimiterBackend } from "./backend.ts";
import { DurableObjectLimiter } from "./durable-object.ts";
import { UpstashLimiter } from "./upstash.ts";

export interface PolicyLimiterOptions {
  mode: "exact" | "local-first";
  leaseSize: number;
  /** The longest a request waits for the backend (a call, or a renewal it waits on). */
  timeoutMs: number;
}

/** Keys a local-first policy holds leases for, per isolate. */
const MAX_LEASED_KEYS = 10_000;

export class PolicyLimiter {
  readonly #options: PolicyLimiterOptions;
  readonly #backend: LimiterBackend;
  readonly #leases: LeasePool | null;

  constructor(options: PolicyLimiterOptions, backend: LimiterBackend) {
    this.#options = options;
    this.#backend = backend;
    this.#leases =
      options.mode === "local-first"
        ? new LeasePool(
            {
              leaseSize: options.leaseSize,
              // Renew with a quarter left: the renewal's round trip is covered by that quarter, and
              // each renewal brings three quarters of a lease, so calls per request stay near 4 / (3 × leaseSize).
              lowWater: Math.floor(options.leaseSize / 4),
              maxKeys: MAX_LEASED_KEYS,
              failureBackoffMs: 1_000,
            },
            (key, ask) => backend.take(key, ask, true),
          )
        : null;
  }

  /** Takes one token for `key`: from the isolate's lease (local-first) or from the backend (exact). */
  check(key: string, background: (work: Promise<unknown>) => void): Decision | Promise<Decision> {
    if (this.#leases !== null) return this.#leases.take(key, background, this.#options.timeoutMs);
    return exactCheck(this.#backend, key);
  }
}

async function exactCheck(backend: LimiterBackend, key: string): Promise<Decision> {
  try {
    const grant = await backend.take(key, 1, false);
    return grant.granted > 0
      ? { kind: "allowed", remaining: grant.remaining, resetAt: grant.resetAt }
      : { kind: "denied", resetAt: grant.resetAt, retryAt: grant.retryAt };
  } catch (error) {
    return { kind: "failed", failure: failureOf(error), detail: error instanceof Error ? error.message : String(error) };
  }
}

/** The limiter of a compiled policy, bound to the deployment's backends. */
export function limiterFor(policy: CompiledRateLimit, env: Bindings): PolicyLimiter {
  const backend =
    policy.backend === "upstash"
      ? new UpstashLimiter(
          { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN },
          policy.prefix,
          policy.spec,
          policy.timeoutMs,
        )
      : new DurableObjectLimiter(env.RATE_LIMITER, policy.prefix, policy.spec, policy.timeoutMs);
  return new PolicyLimiter({ mode: policy.mode, leaseSize: policy.leaseSize, timeoutMs: policy.timeoutMs }, backend);
}
