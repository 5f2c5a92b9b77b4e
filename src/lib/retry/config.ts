/**
 * A route's `retry` block: the schema, the compiled form and the compile step. The budget that
 * bounds retries is the isolate runtime's (budget.ts), one per route and settings.
 */
import * as v from "valibot";
import { described, fraction, integer } from "../config/fields.ts";
import type { RetryBudgetPolicy } from "./budget.ts";

/** Failures a retry policy may retry on. */
export const RETRY_ON = ["connect-failure", "timeout", "gateway-error", "5xx"] as const;
export type RetryOn = (typeof RETRY_ON)[number];

export const retrySchema = v.strictObject({
  attempts: v.optional(described(integer(0, 5), "Retries after the first attempt; 0 retries nothing."), 1),
  on: v.optional(
    described(
      v.pipe(v.array(v.picklist(RETRY_ON, `must be one of: ${RETRY_ON.join(", ")}`)), v.minLength(1, "must not be empty")),
      "Failures that are retried: connect-failure (refused, reset), timeout (the cluster's per-attempt connectTimeoutMs), gateway-error (502, 503, 504), 5xx.",
    ),
    ["connect-failure", "gateway-error"],
  ),
  budget: v.optional(
    described(
      v.strictObject({
        ratio: v.optional(
          described(
            fraction(0, 1),
            "Retries may add at most this share of the route's requests over the last 10 seconds, plus minPerSecond.",
          ),
          0.2,
        ),
        minPerSecond: v.optional(
          described(integer(0, 1000), "Retries allowed per second whatever the ratio says, so quiet routes can still retry."),
          3,
        ),
      }),
      "Bounds retries so that a failing upstream is not flooded with them.",
    ),
    {},
  ),
  backoffMs: v.optional(
    described(
      v.strictObject({
        base: v.optional(
          described(
            integer(0, 10_000),
            "Longest wait before the first retry, in milliseconds; it doubles with each retry after. Each wait is random up to it.",
          ),
          25,
        ),
        max: v.optional(described(integer(0, 60_000), "Cap of the longest wait between attempts, in milliseconds."), 250),
      }),
      "Full-jitter exponential backoff between attempts, never past the route's deadline.",
    ),
    {},
  ),
});

export type RetryConfig = v.InferOutput<typeof retrySchema>;

export interface CompiledRetry {
  attempts: number;
  on: ReadonlySet<RetryOn>;
  /** The route's retry budget settings; the budget itself is the runtime's, one per route and settings. */
  budget: RetryBudgetPolicy;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** Null when the route retries nothing (no block, or 0 attempts). */
export function compileRetry(retry: RetryConfig | undefined): CompiledRetry | null {
  if (retry === undefined || retry.attempts === 0) return null;
  return {
    attempts: retry.attempts,
    on: new Set(retry.on),
    budget: { ratio: retry.budget.ratio, minPerSecond: retry.budget.minPerSecond },
    backoffBaseMs: retry.backoffMs.base,
    backoffMaxMs: Math.max(retry.backoffMs.base, retry.backoffMs.max),
  };
}
