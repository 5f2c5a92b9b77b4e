/**
 * RateLimiter: the Durable Object that owns one policy's counter for one key. A thin RPC shell
 * over the pure algorithms: read, compute, write, all synchronous (the SQLite-backed `kv` API),
 * so no other call can run between the read and the write. State outlives eviction in durable
 * storage; an alarm deletes it once it has expired, so idle keys cost nothing.
 */
import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env.ts";
import { type CounterState, type LimitSpec, take } from "../lib/rate-limit/algorithms.ts";
import type { Grant } from "../lib/rate-limit/decision.ts";

interface StoredCounter {
  state: CounterState;
  expiresAt: number;
}

const COUNTER = "counter";

export class RateLimiter extends DurableObject<Bindings> {
  /** When the cleanup alarm is set for; null when none is. Mirrors storage to spare a read per call. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Takes up to `ask` tokens (see the algorithms' `take`). */
  take(spec: LimitSpec, ask: number, partial: boolean): Grant {
    const storage = this.ctx.storage;
    const now = Date.now();
    const stored = storage.kv.get<StoredCounter>(COUNTER);
    const prior = stored !== undefined && stored.expiresAt > now ? stored.state : undefined;
    const outcome = take(spec, prior, now, ask, partial);
    storage.kv.put<StoredCounter>(COUNTER, { state: outcome.state, expiresAt: outcome.expiresAt });
    if (this.#alarmAt === null) {
      this.#alarmAt = outcome.expiresAt;
      void storage.setAlarm(outcome.expiresAt);
    }
    return { granted: outcome.granted, remaining: outcome.remaining, resetAt: outcome.resetAt, retryAt: outcome.retryAt };
  }

  /** Deletes the counter once expired; otherwise waits for its new expiry. */
  override async alarm(): Promise<void> {
    const stored = this.ctx.storage.kv.get<StoredCounter>(COUNTER);
    if (stored === undefined || stored.expiresAt <= Date.now()) {
      this.#alarmAt = null;
      await this.ctx.storage.deleteAll();
      return;
    }
    this.#alarmAt = stored.expiresAt;
    await this.ctx.storage.setAlarm(stored.expiresAt);
  }
}
