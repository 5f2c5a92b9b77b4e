import { describe, expect, it } from "vitest";
import { count, counterSnapshot, histogramKeys, metricKey, observe, takeDeltas } from "./metrics.ts";

describe("isolate counters", () => {
  it("hands out each change once: deltas since the last take, only for counters that moved", () => {
    const a = metricKey("test_deltas_total", { n: crypto.randomUUID() });
    const b = metricKey("test_deltas_total", { n: crypto.randomUUID() });
    takeDeltas();
    count(a);
    count(a, 2);
    count(b);
    const first = takeDeltas();
    expect(first[a]).toBe(3);
    expect(first[b]).toBe(1);
    count(a);
    const second = takeDeltas();
    expect(second[a]).toBe(1);
    expect(second[b]).toBeUndefined();
    expect(takeDeltas()[a]).toBeUndefined();
    // The isolate's own totals are untouched by taking deltas.
    expect(counterSnapshot()[a]).toBe(4);
  });

  it("counts an observation in its own bucket only (le = at most), above the last bound in +Inf", () => {
    const h = histogramKeys("test_seconds", { run: crypto.randomUUID() }, [0.1, 1]);
    for (const value of [0, 0.1, 0.5, 1, 7]) observe(h, value);
    const counters = counterSnapshot();
    expect(h.buckets.map((key) => counters[key])).toEqual([2, 2, 1]);
    expect(counters[h.sum]).toBeCloseTo(8.6);
  });
});
