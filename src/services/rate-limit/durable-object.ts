/**
 * The Durable Object backend: one RateLimiter object per policy and key (the object's name), so
 * keys never contend with each other and each counter has a single, serial owner.
 */
import type { RateLimiter } from "../../durable-objects/rate-limiter.ts";
import { count, metricKey } from "../../lib/metrics.ts";
import type { LimitSpec } from "../../lib/rate-limit/algorithms.ts";
import { type Grant, LimiterError } from "../../lib/rate-limit/decision.ts";
import { withTimeout } from "../../lib/timeout.ts";
import type { LimiterBackend } from "./backend.ts";

const CALLS = metricKey("rate_limit_backend_calls_total", { backend: "durable-object" });

export class DurableObjectLimiter implements LimiterBackend {
  readonly #namespace: DurableObjectNamespace<RateLimiter> | undefined;
  readonly #prefix: string;
  readonly #spec: LimitSpec;
  readonly #timeoutMs: number;

  constructor(namespace: DurableObjectNamespace<RateLimiter> | undefined, prefix: string, spec: LimitSpec, timeoutMs: number) {
    this.#namespace = namespace;
    this.#prefix = prefix;
    this.#spec = spec;
    this.#timeoutMs = timeoutMs;
  }

  async take(key: string, ask: number, partial: boolean): Promise<Grant> {
    const namespace = this.#namespace;
    if (namespace === undefined) throw new LimiterError("unconfigured", "the RATE_LIMITER Durable Object binding is missing");
    const stub = namespace.get(namespace.idFromName(`${this.#prefix}:${key}`));
    count(CALLS);
    try {
      return await withTimeout(
        stub.take(this.#spec, ask, partial),
        this.#timeoutMs,
        () => new LimiterError("timeout", `no answer within ${this.#timeoutMs} ms`),
      );
    } catch (error) {
      if (error instanceof LimiterError) throw error;
      // Overloaded or reset objects: a failure like any other, never a 500.
      throw new LimiterError("error", error instanceof Error ? error.message : String(error));
    }
  }
}
