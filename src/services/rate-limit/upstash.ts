/**
 * The Upstash Redis backend, through @upstash/ratelimit (its scripts, its ephemeral cache of
 * blocked keys) over @upstash/redis. What the library leaves open is closed here:
 * - its own timeout would fail open after 5 s; it is off, and each call instead carries an
 *   AbortSignal with the policy's timeout, so the subrequest itself is cancelled;
 * - the client's retries (5, with exponential backoff, by default) are cut to one quick retry of
 *   a failed connection, so a dead Redis costs at most the timeout and two subrequests;
 * - after a failure, calls stop for a second (one Redis, one cooldown per isolate) and the policy's
 *   failure mode applies at once, instead of every request paying the timeout.
 * Tokens are all-or-nothing here: the library cannot grant a lease in part.
 */
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis/cloudflare";
import { count, metricKey } from "../../lib/metrics.ts";
import type { LimitSpec } from "../../lib/rate-limit/algorithms.ts";
import { type Grant, LimiterError } from "../../lib/rate-limit/decision.ts";
import type { LimiterBackend } from "./backend.ts";

export interface UpstashCredentials {
  url: string | undefined;
  token: string | undefined;
}

const CALLS = metricKey("rate_limit_backend_calls_total", { backend: "upstash" });

/** How long an isolate stops calling Redis after a failed call. */
const COOLDOWN_MS = 1_000;

/** One REST client per Redis and timeout; module scope because clients hold no request state. */
interface RedisHandle {
  redis: Redis;
  unavailableUntil: number;
}

const handles = new Map<string, RedisHandle>();

function handleFor(url: string, token: string, timeoutMs: number): RedisHandle {
  const id = `${timeoutMs} ${url} ${token}`;
  let handle = handles.get(id);
  if (handle === undefined) {
    handle = {
      redis: new Redis({
        url,
        token,
        enableTelemetry: false,
        retry: { retries: 1, backoff: () => 10 },
        // A function, so each request gets a fresh signal, and an aborted call throws instead of
        // the library answering a made-up 200.
        signal: () => AbortSignal.timeout(timeoutMs),
      }),
      unavailableUntil: 0,
    };
    handles.set(id, handle);
  }
  return handle;
}

function limiterFor(spec: LimitSpec): ReturnType<typeof Ratelimit.fixedWindow> {
  const window = `${spec.windowMs} ms` as const;
  switch (spec.algorithm) {
    case "fixed-window":
      return Ratelimit.fixedWindow(spec.limit, window);
    case "sliding-window":
      return Ratelimit.slidingWindow(spec.limit, window);
    case "token-bucket":
      return Ratelimit.tokenBucket(spec.refill, window, spec.limit);
  }
}

export class UpstashLimiter implements LimiterBackend {
  readonly #handle: RedisHandle | null;
  readonly #ratelimit: Ratelimit | null;
  readonly #timeoutMs: number;

  constructor(credentials: UpstashCredentials, prefix: string, spec: LimitSpec, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    if (!credentials.url || !credentials.token) {
      this.#handle = null;
      this.#ratelimit = null;
      return;
    }
    this.#handle = handleFor(credentials.url, credentials.token, timeoutMs);
    this.#ratelimit = new Ratelimit({
      redis: this.#handle.redis,
      limiter: limiterFor(spec),
      prefix,
      // Blocked keys are answered from isolate memory until their reset: no call at all.
      ephemeralCache: new Map(),
      timeout: 0,
      analytics: false,
      enableProtection: false,
    });
  }

  async take(key: string, ask: number): Promise<Grant> {
    const handle = this.#handle;
    const ratelimit = this.#ratelimit;
    if (handle === null || ratelimit === null) {
      throw new LimiterError("unconfigured", "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN are not set");
    }
    if (Date.now() < handle.unavailableUntil) throw new LimiterError("error", "Redis failed recently; cooling down");
    try {
      const result = await ratelimit.limit(key, { rate: ask });
      // A key the ephemeral cache holds as blocked is answered without a call.
      if (result.reason !== "cacheBlock") count(CALLS);
      return {
        granted: result.success ? ask : 0,
        remaining: result.remaining,
        resetAt: result.reset,
        retryAt: result.reset,
      };
    } catch (error) {
      count(CALLS);
      handle.unavailableUntil = Date.now() + COOLDOWN_MS;
      const aborted = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw new LimiterError(aborted ? "timeout" : "error", aborted ? `no answer within ${this.#timeoutMs} ms` : String(error));
    }
  }
}
