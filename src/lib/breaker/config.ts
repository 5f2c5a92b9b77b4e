/**
 * A cluster's `breaker` block: its schema, its compiled form in the units the code uses, and the
 * checks across its fields. Defaults and their reasoning: docs/circuit-breaking.md.
 */
import * as v from "valibot";
import { type ConfigIssue, durationMs, fraction, integer } from "../config/fields.ts";
import type { BreakerSettings } from "./state.ts";

export const breakerSchema = v.strictObject({
  failureWeight: v.optional(fraction(0, 1), 0.6),
  latencyWeight: v.optional(fraction(0, 1), 0.4),
  /** Score at or above which a target is ejected. */
  threshold: v.optional(fraction(0.01, 10), 0.7),
  /** Fixed p99 baseline; unset compares each target with the median p99 of the others. */
  latencyBaselineMs: v.optional(durationMs(600_000)),
  latencyFloorMs: v.optional(durationMs(60_000), 25),
  maxLatencyRatio: v.optional(fraction(1, 100), 4),
  /** Half-life of the decayed failure counts and smoothed p99. */
  halfLifeSec: v.optional(integer(1, 600), 5),
  /** Decayed request volume a target needs before it is judged. */
  minRequests: v.optional(integer(1, 1_000_000), 20),
  baseEjectionSec: v.optional(integer(1, 3_600), 10),
  maxEjectionSec: v.optional(integer(1, 86_400), 300),
  /** Each ejection lasts up to this fraction longer, at random. */
  ejectionJitter: v.optional(fraction(0, 1), 0.2),
  maxEjectionPercent: v.optional(integer(0, 100), 50),
  /** Probes in flight at once to a half-open target, across all isolates. */
  probes: v.optional(integer(1, 100), 3),
  /** Successful probes that close a half-open target. */
  probeSuccesses: v.optional(integer(1, 100), 3),
  /** How often an isolate ships outcomes to the object and refreshes its view (while it has traffic). */
  reportIntervalMs: v.optional(integer(100, 60_000), 1_000),
  /** ... or sooner, once it has this many outcomes to ship. */
  reportEveryRequests: v.optional(integer(1, 1_000_000), 1_000),
  /** A report not answered within this counts as the object being unreachable. */
  objectTimeoutMs: v.optional(durationMs(10_000), 1_000),
});

export type BreakerConfig = v.InferOutput<typeof breakerSchema>;

/** A cluster's breaker knobs in the units the code uses. */
export interface CompiledBreaker extends BreakerSettings {
  reportIntervalMs: number;
  reportEveryRequests: number;
  objectTimeoutMs: number;
}

export function compileBreaker(breaker: BreakerConfig): CompiledBreaker {
  return {
    failureWeight: breaker.failureWeight,
    latencyWeight: breaker.latencyWeight,
    threshold: breaker.threshold,
    latencyBaselineMs: breaker.latencyBaselineMs ?? null,
    latencyFloorMs: breaker.latencyFloorMs,
    maxLatencyRatio: breaker.maxLatencyRatio,
    halfLifeMs: breaker.halfLifeSec * 1000,
    minRequests: breaker.minRequests,
    baseEjectionMs: breaker.baseEjectionSec * 1000,
    maxEjectionMs: breaker.maxEjectionSec * 1000,
    ejectionJitter: breaker.ejectionJitter,
    maxEjectionPercent: breaker.maxEjectionPercent,
    probes: breaker.probes,
    probeSuccesses: breaker.probeSuccesses,
    reportIntervalMs: breaker.reportIntervalMs,
    reportEveryRequests: breaker.reportEveryRequests,
    objectTimeoutMs: breaker.objectTimeoutMs,
  };
}

/** Checks across the breaker's fields; `at` is the block's own path. */
export function breakerIssues(breaker: BreakerConfig, at: (suffix: string) => string, issues: ConfigIssue[]): void {
  if (breaker.maxEjectionSec < breaker.baseEjectionSec)
    issues.push({ path: at(".maxEjectionSec"), message: `must be >= baseEjectionSec (${breaker.baseEjectionSec})` });
  if (breaker.failureWeight + breaker.latencyWeight === 0)
    issues.push({ path: at(".failureWeight"), message: "failureWeight and latencyWeight cannot both be 0" });
}
