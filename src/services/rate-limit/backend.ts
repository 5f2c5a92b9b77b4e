/**
 * The interface every limiter backend implements, per policy: take up to `ask` tokens for a key.
 * Implementations: Durable Objects (durable-object.ts), Upstash Redis (upstash.ts), and an
 * in-memory one for unit tests of the logic above them (memory.ts).
 */
import type { Grant } from "../../lib/rate-limit/decision.ts";

export interface LimiterBackend {
  /** Which backend this is, for metrics and logs. */
  readonly kind: "durable-object" | "upstash" | "memory";
  /**
   * Takes `ask` tokens for `key`: all or nothing, or up to `ask` when `partial` (a lease) and the
   * backend can grant in part. Rejects with a LimiterError on timeout, error or missing binding.
   */
  take(key: string, ask: number, partial: boolean): Promise<Grant>;
}

/** Rejects with `onTimeout()` when `work` has not settled within `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
