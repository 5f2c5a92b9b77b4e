/**
 * An in-memory backend over the same pure algorithms as the Durable Object: for unit tests of
 * the logic above the backends, and as the reference the conformance suite holds the real ones to.
 */
import { type CounterState, type LimitSpec, take } from "../../lib/rate-limit/algorithms.ts";
import type { Grant } from "../../lib/rate-limit/decision.ts";
import type { LimiterBackend } from "./backend.ts";

export class MemoryLimiter implements LimiterBackend {
  readonly #spec: LimitSpec;
  readonly #now: () => number;
  readonly #counters = new Map<string, { state: CounterState; expiresAt: number }>();
  /** Calls made, for tests that count them. */
  calls = 0;

  constructor(spec: LimitSpec, now: () => number = Date.now) {
    this.#spec = spec;
    this.#now = now;
  }

  async take(key: string, ask: number, partial: boolean): Promise<Grant> {
    this.calls++;
    const now = this.#now();
    const stored = this.#counters.get(key);
    const outcome = take(this.#spec, stored && stored.expiresAt > now ? stored.state : undefined, now, ask, partial);
    this.#counters.set(key, { state: outcome.state, expiresAt: outcome.expiresAt });
    return { granted: outcome.granted, remaining: outcome.remaining, resetAt: outcome.resetAt, retryAt: outcome.retryAt };
  }
}
