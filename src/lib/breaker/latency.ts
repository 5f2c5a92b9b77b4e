/**
 * Latency histograms with log-scale buckets: small enough to ship in a report, precise enough
 * (19% per bucket) to compare a p99 against a baseline. Pure; no I/O.
 */

/** Buckets per doubling of latency. */
const STEPS_PER_DOUBLING = 4;
/** Bucket 0 holds everything up to 1 ms; the last one everything from about 3.7 minutes up. */
export const LATENCY_BUCKETS = 72;

/** The bucket a latency falls into. */
export function latencyBucket(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(LATENCY_BUCKETS - 1, Math.ceil(STEPS_PER_DOUBLING * Math.log2(ms)));
}

/** The upper bound of a bucket in milliseconds: a quantile read from it is never understated. */
export function bucketUpperMs(bucket: number): number {
  return 2 ** (bucket / STEPS_PER_DOUBLING);
}

/** A sparse histogram: bucket index -> count. Sparse because most requests land in a few buckets. */
export type SparseHistogram = Record<number, number>;

/** Adds `from` into `into`. */
export function mergeHistogram(into: SparseHistogram, from: SparseHistogram): void {
  for (const key in from) {
    const bucket = Number(key);
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= LATENCY_BUCKETS) continue;
    const count = from[key];
    if (typeof count !== "number" || !(count > 0)) continue;
    into[bucket] = (into[bucket] ?? 0) + count;
  }
}

/** The latency at quantile `q` (0..1), from bucket upper bounds; null for an empty histogram. */
export function quantileMs(histogram: SparseHistogram, q: number): number | null {
  let total = 0;
  for (const key in histogram) total += histogram[key] as number;
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
    seen += histogram[bucket] ?? 0;
    if (seen >= rank) return bucketUpperMs(bucket);
  }
  return bucketUpperMs(LATENCY_BUCKETS - 1);
}

/** Dense counts (the isolate's hot-path form) to the sparse form sent in a report. */
export function sparseOf(dense: ArrayLike<number>): SparseHistogram {
  const sparse: SparseHistogram = {};
  for (let bucket = 0; bucket < dense.length; bucket++) {
    const count = dense[bucket] as number;
    if (count > 0) sparse[bucket] = count;
  }
  return sparse;
}
