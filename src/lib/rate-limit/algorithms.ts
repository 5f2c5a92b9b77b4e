/**
 * The three limiting algorithms as pure functions of (spec, state, now): epoch-aligned windows and
 * discrete token-bucket refills. Both backends run them: the Durable Object as this code, Upstash as
 * the same arithmetic in Lua on Redis (services/rate-limit/upstash-scripts.ts, tested against this
 * file), so a policy means the same on either, to the token: a refused ask costs nothing, and a lease
 * may be granted in part (see `take`). Unit tests drive them with a fake clock.
 * A change here must be made in the Lua scripts too.
 */

/** The counting algorithms a policy may name. */
export const RATE_LIMIT_ALGORITHMS = ["fixed-window", "sliding-window", "token-bucket"] as const;
export type RateLimitAlgorithm = (typeof RATE_LIMIT_ALGORITHMS)[number];

/** A policy's arithmetic, in milliseconds. */
export interface LimitSpec {
  algorithm: RateLimitAlgorithm;
  /** Requests per window; for token-bucket, the bucket's size. */
  limit: number;
  /** The window; for token-bucket, the refill interval. */
  windowMs: number;
  /** token-bucket: tokens added per windowMs. Ignored by the window algorithms. */
  refill: number;
}

export type CounterState =
  | { algorithm: "fixed-window"; window: number; used: number }
  | { algorithm: "sliding-window"; window: number; current: number; previous: number }
  | { algorithm: "token-bucket"; tokens: number; refilledAt: number };

export interface TakeOutcome {
  /** Tokens taken: `ask`, fewer (partial), or 0 (refused). */
  granted: number;
  /** Tokens left after this take. */
  remaining: number;
  /** Epoch ms at which more quota becomes available: the window's end, or the next refill. */
  resetAt: number;
  /** Epoch ms at which a request refused now could first pass (the basis of Retry-After). */
  retryAt: number;
  state: CounterState;
  /** Epoch ms after which the state says nothing a fresh state would not: it can be deleted. */
  expiresAt: number;
}

function fixedWindow(spec: LimitSpec, prior: CounterState | undefined, now: number, ask: number, partial: boolean): TakeOutcome {
  const window = Math.floor(now / spec.windowMs);
  const used = prior?.algorithm === "fixed-window" && prior.window === window ? prior.used : 0;
  const granted = grant(spec.limit - used, ask, partial);
  const end = (window + 1) * spec.windowMs;
  return {
    granted,
    remaining: spec.limit - used - granted,
    resetAt: end,
    retryAt: end,
    state: { algorithm: "fixed-window", window, used: used + granted },
    expiresAt: end,
  };
}

/**
 * Cloudflare's and Upstash's approximation of a sliding log: the previous window's count,
 * weighted by how much of it the sliding window still covers, plus the current count.
 */
function slidingWindow(spec: LimitSpec, prior: CounterState | undefined, now: number, ask: number, partial: boolean): TakeOutcome {
  const size = spec.windowMs;
  const window = Math.floor(now / size);
  let current = 0;
  let previous = 0;
  if (prior?.algorithm === "sliding-window") {
    if (prior.window === window) {
      current = prior.current;
      previous = prior.previous;
    } else if (prior.window === window - 1) {
      previous = prior.current;
    }
  }
  const elapsed = (now % size) / size;
  const weighted = Math.floor((1 - elapsed) * previous);
  const granted = grant(spec.limit - weighted - current, ask, partial);
  current += granted;
  const end = (window + 1) * size;
  return {
    granted,
    remaining: Math.max(0, spec.limit - weighted - current),
    resetAt: end,
    retryAt: slidingRetryAt(spec.limit, window * size, size, previous, current),
    state: { algorithm: "sliding-window", window, current, previous },
    expiresAt: end + size,
  };
}

/** The first instant at which one more request fits under the sliding estimate. */
function slidingRetryAt(limit: number, start: number, size: number, previous: number, current: number): number {
  // Within this window, floor((1 - f) * previous) + current < limit once f > 1 - (limit - current) / previous.
  if (current < limit) {
    if (previous <= 0) return start;
    const f = 1 - (limit - current) / previous;
    return start + Math.max(0, Math.floor(f * size) + 1);
  }
  // Otherwise in the next window, where this window's count becomes the weighted previous one.
  const next = start + size;
  const f = 1 - limit / current;
  return next + Math.floor(f * size) + 1;
}

function tokenBucket(spec: LimitSpec, prior: CounterState | undefined, now: number, ask: number, partial: boolean): TakeOutcome {
  const interval = spec.windowMs;
  let tokens = spec.limit;
  let refilledAt = now;
  if (prior?.algorithm === "token-bucket") {
    tokens = prior.tokens;
    refilledAt = prior.refilledAt;
    if (now >= refilledAt + interval) {
      const refills = Math.floor((now - refilledAt) / interval);
      tokens = Math.min(spec.limit, tokens + refills * spec.refill);
      refilledAt += refills * interval;
    }
  }
  const granted = grant(tokens, ask, partial);
  tokens -= granted;
  const nextRefill = refilledAt + interval;
  const refillsToFull = Math.ceil((spec.limit - tokens) / spec.refill);
  return {
    granted,
    remaining: tokens,
    resetAt: nextRefill,
    retryAt: nextRefill,
    state: { algorithm: "token-bucket", tokens, refilledAt },
    expiresAt: refilledAt + Math.max(1, refillsToFull) * interval,
  };
}

function grant(available: number, ask: number, partial: boolean): number {
  if (available <= 0) return 0;
  if (available >= ask) return ask;
  return partial ? available : 0;
}

const ALGORITHMS = { "fixed-window": fixedWindow, "sliding-window": slidingWindow, "token-bucket": tokenBucket } as const;

/**
 * Takes `ask` tokens from a counter. All or nothing unless `partial`, which a lease uses: an isolate
 * asking for 10 when 3 are left gets the 3, so no quota is stranded at the end of a window.
 */
export function take(spec: LimitSpec, prior: CounterState | undefined, now: number, ask: number, partial = false): TakeOutcome {
  return ALGORITHMS[spec.algorithm](spec, prior, now, Math.max(1, Math.floor(ask)), partial);
}
