import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

function shard() {
  const namespace = env.METRICS_AGGREGATOR;
  if (namespace === undefined) throw new Error("METRICS_AGGREGATOR binding missing");
  return namespace.get(namespace.idFromName(`test:${crypto.randomUUID()}`));
}

describe("MetricsAggregator: one shard of the fleet's counters", () => {
  it("adds each report once: a report sent again (same reporter and number) is acknowledged, not counted", async () => {
    const aggregator = shard();
    const key = 'http_requests_total{route="r",method="GET",class="2xx"}';
    expect(await aggregator.report({ reporter: "a", seq: 1, deltas: { [key]: 5 } })).toEqual({ applied: true });
    expect(await aggregator.report({ reporter: "a", seq: 1, deltas: { [key]: 5 } })).toEqual({ applied: false });
    // An older number arriving late is as good as taken.
    expect(await aggregator.report({ reporter: "a", seq: 2, deltas: { [key]: 1 } })).toEqual({ applied: true });
    expect(await aggregator.report({ reporter: "a", seq: 1, deltas: { [key]: 5 } })).toEqual({ applied: false });
    // Another isolate's numbers are its own.
    expect(await aggregator.report({ reporter: "b", seq: 1, deltas: { [key]: 2, other_total: 1 } })).toEqual({ applied: true });
    expect(await aggregator.totals()).toEqual({ [key]: 8, other_total: 1 });
  });

  it("keeps everything it acknowledged across a restart, and still knows which reports it took", async () => {
    const aggregator = shard();
    await aggregator.report({ reporter: "a", seq: 1, deltas: { x_total: 3, y_sum: 0.25 } });
    await evictDurableObject(aggregator);
    expect(await aggregator.totals()).toEqual({ x_total: 3, y_sum: 0.25 });
    expect(await aggregator.report({ reporter: "a", seq: 1, deltas: { x_total: 3 } })).toEqual({ applied: false });
    expect(await aggregator.report({ reporter: "a", seq: 2, deltas: { x_total: -1 } })).toEqual({ applied: true });
    expect(await aggregator.totals()).toEqual({ x_total: 2, y_sum: 0.25 });
  });

  it("refuses a malformed report without counting any of it", async () => {
    const aggregator = shard();
    for (const report of [
      { reporter: 1, seq: 1, deltas: {} },
      { reporter: "a", seq: 1.5, deltas: {} },
      { reporter: "a", seq: 1, deltas: null },
    ]) {
      expect(await aggregator.report(report as never)).toEqual({ applied: false, malformed: true });
    }
    expect(await aggregator.totals()).toEqual({});
  });
});
