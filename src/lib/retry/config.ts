/**
 * A route's `retry` block: the schema, the compiled form and the compile step. The budget that
 * bounds retries is the isolate runtime's (budget.ts), one per route and settings.
 */
import * as v from "valibot";
import { fraction, integer } from "../config/fields.ts";
import type { RetryBudgetPolicy } from "./budget.ts";

/** Failures a retry policy may retry on. */
export const RETRY_ON = ["connect-failure", "timeout", "gateway-error", "5xx"] as const;
export type RetryOn = (typeof RETRY_ON)[number];

export const retrySchema = v.strictObject({
  /** Retries after the first attempt. */
  attempts: v.optional(integer(0, 5), 1),
  on: v.optional(v.pipe(v.array(v.picklist(RETRY_ON, `must be one of: ${RETRY_ON.join(", ")}`)), v.minLength(1, "must not be empty")), [
    "connect-failure",
    "gateway-error",
  ]),
  budget: v.optional(
    v.strictObject({
      /** Retries allowed as a share of requests in the last 10 seconds. */
      ratio: v.optional(fraction(0, 1), 0.2),
      /** Retries always allowed per second, whatever the ratio says. */
      minPerSecond: v.optional(integer(0, 1000), 3),
    }),
    {},
  ),
  backoffMs: v.optional(
    v.strictObject({
      base: v.optional(integer(0, 10_000), 25),
      max: v.optional(integer(0, 60_000), 250),
    }),
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
