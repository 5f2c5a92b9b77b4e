/**
 * The Upstash Redis backend: the algorithms of lib/rate-limit/algorithms.ts, as Lua scripts of our
 * own (upstash-scripts.ts), run atomically per key over @upstash/redis (EVALSHA, then EVAL when
 * Redis does not have the script yet). So a policy means the same here as on the Durable Object
 * backend, to the token: a refused ask costs nothing, and a lease can be granted in part.
 * Around the calls:
 * - each call carries an AbortSignal with the policy's timeout, so the subrequest itself is cancelled;
 * - the client's retries (5, with exponential backoff, by default) are cut to one quick retry of
 *   a failed connection, so a dead Redis costs at most the timeout and two subrequests;
 * - after a failure, calls stop for a second (one Redis, one cooldown per isolate) and the policy's
 *   failure mode applies at once, instead of every request paying the timeout.
 * There is no cache of refused keys here: local-first leases already keep hot keys off the network.
 */
import { Redis } from "@upstash/redis/cloudflare";
import { count, metricKey } from "../../lib/metrics.ts";
import type { LimitSpec, RateLimitAlgorithm } from "../../lib/rate-limit/algorithms.ts";
import { type Grant, LimiterError } from "../../lib/rate-limit/decision.ts";
import type { LimiterBackend } from "./backend.ts";
import { grantOfReply, limitScript, limitScriptArgs } from "./upstash-scripts.ts";

export interface UpstashCredentials {
  url: string | undefined;
  token: string | undefined;
}

const CALLS = metricKey("rate_limit_backend_calls_total", { backend: "upstash" });

/** How long an isolate stops calling Redis after a failed call. */
const COOLDOWN_MS = 1_000;

/** What a take needs of @upstash/redis's Script: EVALSHA, then EVAL when Redis answers NOSCRIPT. */
interface LimitScript {
  exec(keys: string[], args: string[]): Promise<unknown>;
}

/**
 * One REST client per Redis and timeout, with its three scripts; module scope because they hold no
 * request state.
 */
interface RedisHandle {
  scripts: Record<RateLimitAlgorithm, LimitScript>;
  unavailableUntil: number;
}

const handles = new Map<string, RedisHandle>();

function handleFor(url: string, token: string, timeoutMs: number): RedisHandle {
  const id = `${timeoutMs} ${url} ${token}`;
  let handle = handles.get(id);
  if (handle === undefined) {
    const redis = new Redis({
      url,
      token,
      enableTelemetry: false,
      retry: { retries: 1, backoff: () => 10 },
      // A function, so each request gets a fresh signal, and an aborted call throws instead of
      // the library answering a made-up 200.
      signal: () => AbortSignal.timeout(timeoutMs),
    });
    const script = (algorithm: RateLimitAlgorithm) => redis.createScript(limitScript(algorithm));
    const scripts = {
      "fixed-window": script("fixed-window"),
      "sliding-window": script("sliding-window"),
      "token-bucket": script("token-bucket"),
    };
    handle = { scripts, unavailableUntil: 0 };
    handles.set(id, handle);
  }
  return handle;
}

/** One policy's counters in Upstash Redis: a hash per key, at `${prefix}:${key}`. */
export class UpstashLimiter implements LimiterBackend {
  readonly #handle: RedisHandle | null;
  readonly #prefix: string;
  readonly #spec: LimitSpec;
  readonly #timeoutMs: number;

  constructor(credentials: UpstashCredentials, prefix: string, spec: LimitSpec, timeoutMs: number) {
    this.#prefix = prefix;
    this.#spec = spec;
    this.#timeoutMs = timeoutMs;
    this.#handle = credentials.url && credentials.token ? handleFor(credentials.url, credentials.token, timeoutMs) : null;
  }

  /** Takes up to `ask` tokens for `key`, as algorithms.ts `take` does (`partial` defaults to all or nothing). */
  async take(key: string, ask: number, partial = false): Promise<Grant> {
    const handle = this.#handle;
    if (handle === null) {
      throw new LimiterError("unconfigured", "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN are not set");
    }
    if (Date.now() < handle.unavailableUntil) throw new LimiterError("error", "Redis failed recently; cooling down");
    count(CALLS);
    try {
      const script = handle.scripts[this.#spec.algorithm];
      return grantOfReply(await script.exec([`${this.#prefix}:${key}`], limitScriptArgs(this.#spec, ask, partial, Date.now())));
    } catch (error) {
      handle.unavailableUntil = Date.now() + COOLDOWN_MS;
      const aborted = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw new LimiterError(aborted ? "timeout" : "error", aborted ? `no answer within ${this.#timeoutMs} ms` : String(error));
    }
  }
}
