import { describe, expect, it } from "vitest";
import { bucketUpperMs, LATENCY_BUCKETS, latencyBucket, mergeHistogram, quantileMs, sparseOf } from "./latency.ts";

describe("latency histogram", () => {
  it("puts a latency in a bucket whose upper bound is within 19% above it", () => {
    for (const ms of [1.5, 3, 20, 95, 250, 1_000, 30_000]) {
      const upper = bucketUpperMs(latencyBucket(ms));
      expect(upper).toBeGreaterThanOrEqual(ms);
      expect(upper / ms).toBeLessThan(1.19);
    }
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(-5)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
    expect(latencyBucket(1e12)).toBe(LATENCY_BUCKETS - 1);
  });

  it("reads quantiles from the buckets, never below the true value", () => {
    const dense = new Float64Array(LATENCY_BUCKETS);
    dense[latencyBucket(10)] = 98;
    dense[latencyBucket(400)] = 2;
    const sparse = sparseOf(dense);
    expect(Object.keys(sparse)).toHaveLength(2);
    expect(quantileMs(sparse, 0.5)).toBeGreaterThanOrEqual(10);
    expect(quantileMs(sparse, 0.5)).toBeLessThan(12);
    expect(quantileMs(sparse, 0.99)).toBeGreaterThanOrEqual(400);
    expect(quantileMs({}, 0.99)).toBeNull();
  });

  it("merges reports and ignores buckets or counts that cannot be right", () => {
    const into = { 3: 1 };
    mergeHistogram(into, { 3: 2, 5: 1, [-1]: 4, 999: 4, 7: -3 } as Record<number, number>);
    expect(into).toEqual({ 3: 3, 5: 1 });
  });
});
