/**
 * How unhealthy a target looks: a weighted score of its failure rate and of its p99 latency
 * against a baseline. Pure functions of numbers, so the object and the isolates judge alike.
 */

/** The scoring knobs of a cluster (see docs/circuit-breaking.md for the defaults' reasoning). */
export interface ScoreSettings {
  failureWeight: number;
  latencyWeight: number;
  threshold: number;
  /** A fixed p99 baseline; null compares each target with the median of the others. */
  latencyBaselineMs: number | null;
  /** Latencies below this count as this: sub-millisecond jitter is not a slowdown. */
  latencyFloorMs: number;
  /** The latency term's cap, so one hung request cannot outweigh everything else. */
  maxLatencyRatio: number;
}

/** The share `halfLifeMs` decay leaves of a value after `elapsedMs`. */
export function decayFactor(elapsedMs: number, halfLifeMs: number): number {
  return elapsedMs <= 0 ? 1 : 2 ** (-elapsedMs / halfLifeMs);
}

/**
 * The baseline a target's p99 is judged against: the configured one, else the median p99 of the
 * *other* targets (leave-one-out, so a slow target cannot raise its own bar), else its own (a lone
 * target, or none of its peers measured yet, is judged on failures only).
 */
export function latencyBaseline(index: number, p99s: ReadonlyArray<number | null>, settings: ScoreSettings): number | null {
  if (settings.latencyBaselineMs !== null) return settings.latencyBaselineMs;
  const others: number[] = [];
  for (let i = 0; i < p99s.length; i++) {
    const p99 = p99s[i];
    if (i !== index && p99 !== null && p99 !== undefined) others.push(p99);
  }
  if (others.length === 0) return p99s[index] ?? null;
  others.sort((a, b) => a - b);
  const mid = others.length >> 1;
  return others.length % 2 === 1 ? (others[mid] as number) : ((others[mid - 1] as number) + (others[mid] as number)) / 2;
}

/** p99 over baseline, both raised to the floor, capped. 1 when either is unknown: no evidence either way. */
export function latencyRatio(p99Ms: number | null, baselineMs: number | null, settings: ScoreSettings): number {
  if (p99Ms === null || baselineMs === null) return 1;
  const ratio = Math.max(p99Ms, settings.latencyFloorMs) / Math.max(baselineMs, settings.latencyFloorMs);
  return Math.min(settings.maxLatencyRatio, ratio);
}

/** The weighted score; at or above `threshold` the target is ejected (given enough volume). */
export function targetScore(failureRate: number, ratio: number, settings: ScoreSettings): number {
  return settings.failureWeight * failureRate + settings.latencyWeight * ratio;
}

/** How many targets may be out of rotation at once: the percentage, but always at least one (as Envoy does). */
export function maxEjected(targets: number, maxEjectionPercent: number): number {
  return Math.max(1, Math.floor((targets * maxEjectionPercent) / 100));
}

/**
 * How long the `ejections`-th consecutive ejection lasts: base x ejections (Envoy's rule), capped,
 * stretched by up to `jitter` so targets ejected together do not all return in the same instant.
 */
export function ejectionMs(ejections: number, base: number, max: number, jitter: number, random: number): number {
  return Math.round(Math.min(max, base * Math.max(1, ejections)) * (1 + jitter * random));
}
