/**
 * A cluster's `breaker` block: its schema, its compiled form in the units the code uses, and the
 * checks across its fields. Defaults and their reasoning: docs/circuit-breaking.md.
 */
import * as v from "valibot";
import { type ConfigIssue, described, durationMs, fraction, integer } from "../config/fields.ts";
import type { BreakerSettings } from "./state.ts";

export const breakerSchema = v.strictObject({
  failureWeight: v.optional(described(fraction(0, 1), "Weight of a target's failure rate in its score."), 0.6),
  latencyWeight: v.optional(
    described(fraction(0, 1), "Weight of a target's p99 latency ratio in its score; failureWeight and latencyWeight cannot both be 0."),
    0.4,
  ),
  threshold: v.optional(described(fraction(0.01, 10), "Score at or above which a target is ejected."), 0.7),
  latencyBaselineMs: v.optional(
    described(
      durationMs(600_000),
      "A fixed p99 baseline in milliseconds that each target's p99 is compared with. Unset: the median p99 of the other targets.",
    ),
  ),
  latencyFloorMs: v.optional(described(durationMs(60_000), "Latencies below this many milliseconds count as this many."), 25),
  maxLatencyRatio: v.optional(described(fraction(1, 100), "Cap of a target's p99 latency ratio in its score."), 4),
  halfLifeSec: v.optional(described(integer(1, 600), "Half-life, in seconds, of the decayed failure counts and the smoothed p99."), 5),
  minRequests: v.optional(described(integer(1, 1_000_000), "Decayed request volume a target needs before it is judged."), 20),
  baseEjectionSec: v.optional(
    described(integer(1, 3_600), "Length of a target's first ejection, in seconds; the n-th ejection lasts n times this."),
    10,
  ),
  maxEjectionSec: v.optional(described(integer(1, 86_400), "Longest ejection, in seconds; at least baseEjectionSec."), 300),
  ejectionJitter: v.optional(described(fraction(0, 1), "Each ejection lasts up to this fraction longer, at random."), 0.2),
  maxEjectionPercent: v.optional(
    described(integer(0, 100), "Share of the cluster's targets, in percent, that may be ejected at once (at least one)."),
    50,
  ),
  probes: v.optional(described(integer(1, 100), "Probe requests in flight at once to a half-open target, across all isolates."), 3),
  probeSuccesses: v.optional(described(integer(1, 100), "Successful probes that close a half-open target."), 3),
  reportIntervalMs: v.optional(
    described(
      integer(100, 60_000),
      "How often, in milliseconds, an isolate with traffic reports its outcomes to the cluster's object and refreshes its view.",
    ),
    1_000,
  ),
  reportEveryRequests: v.optional(
    described(integer(1, 1_000_000), "An isolate reports sooner than reportIntervalMs once it has this many outcomes to ship."),
    1_000,
  ),
  objectTimeoutMs: v.optional(
    described(
      durationMs(10_000),
      "A report unanswered within this many milliseconds counts as the object being unreachable; the isolate keeps its last view.",
    ),
    1_000,
  ),
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
