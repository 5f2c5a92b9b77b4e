/**
 * The interface every limiter backend implements, per policy: take up to `ask` tokens for a key.
 * Implementations: Durable Objects (durable-object.ts), Upstash Redis (upstash.ts), and an
 * in-memory one for unit tests of the logic above them (memory.ts).
 */
import type { Grant } from "../../lib/rate-limit/decision.ts";

export interface LimiterBackend {
  /**
   * Takes `ask` tokens for `key`: all or nothing, or up to `ask` when `partial` (a lease) and the
   * backend can grant in part. Rejects with a LimiterError on timeout, error or missing binding.
   */
  take(key: string, ask: number, partial: boolean): Promise<Grant>;
}
