import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { MetricsAggregator } from "../../durable-objects/metrics-aggregator.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import { AGGREGATOR_SHARDS, type AggregatorNamespace, MetricsReporter, shardOf } from "./reporter.ts";

function aggregators(): AggregatorNamespace {
  const namespace = env.METRICS_AGGREGATOR;
  if (namespace === undefined) throw new Error("METRICS_AGGREGATOR binding missing");
  return namespace;
}

/** The real namespace, with the next `failures` report calls failing after the shard took them (a lost acknowledgement). */
function losingAcks(failures: { left: number }): AggregatorNamespace {
  const namespace = aggregators();
  return {
    idFromName: (name: string) => namespace.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = namespace.get(id);
      return {
        report: async (report: Parameters<MetricsAggregator["report"]>[0]) => {
          const answer = await stub.report(report);
          if (failures.left-- > 0) throw new Error("acknowledgement lost");
          return answer;
        },
        totals: () => stub.totals(),
      };
    },
  } as unknown as AggregatorNamespace;
}

/** A reporter over a source of deltas the test controls, reporting to a shard of its own. */
function reporterWith(shard: string, pending: Record<string, number>) {
  return new MetricsReporter({
    intervalMs: 1_000,
    shardFor: () => shard,
    takeDeltas: () => {
      const taken = { ...pending };
      for (const key of Object.keys(pending)) delete pending[key];
      return taken;
    },
  });
}

describe("the isolate's metrics reporter", () => {
  it("sends a report whose acknowledgement was lost again as it was: the shard counts it once, and later counts still arrive", async () => {
    const shard = `test:${crypto.randomUUID()}`;
    const pending: Record<string, number> = { a_total: 5 };
    const failures = { left: 1 };
    const reporter = reporterWith(shard, pending);
    const reports = (outcome: string) => counterSnapshot()[`metrics_reports_total{outcome="${outcome}"}`] ?? 0;
    const [failedBefore, okBefore] = [reports("failed"), reports("ok")];
    expect(await reporter.flush(losingAcks(failures))).toBe(false);
    expect(reports("failed")).toBe(failedBefore + 1);
    pending.a_total = 2;
    expect(await reporter.flush(losingAcks(failures))).toBe(true);
    // The retry of the first report, then one with what came since.
    expect(reports("ok")).toBe(okBefore + 2);
    const stub = aggregators().get(aggregators().idFromName(shard));
    expect(await stub.totals()).toEqual({ a_total: 7 });
  });

  it("reports at most once per interval, in the background, and not on the first request", async () => {
    const shard = `test:${crypto.randomUUID()}`;
    const pending: Record<string, number> = { b_total: 1 };
    const reporter = reporterWith(shard, pending);
    const started: Promise<unknown>[] = [];
    const background = (work: Promise<unknown>) => started.push(work);
    reporter.maybeReport(0, aggregators(), background);
    reporter.maybeReport(999, aggregators(), background);
    expect(started).toHaveLength(0);
    reporter.maybeReport(1_000, aggregators(), background);
    reporter.maybeReport(1_001, aggregators(), background);
    expect(started).toHaveLength(1);
    await Promise.all(started);
    expect(await aggregators().get(aggregators().idFromName(shard)).totals()).toEqual({ b_total: 1 });
    // Without the binding nothing is scheduled.
    reporter.maybeReport(5_000, undefined, background);
    expect(started).toHaveLength(1);
  });

  it("spreads isolates over every shard", () => {
    const hits = new Array(AGGREGATOR_SHARDS).fill(0);
    for (let i = 0; i < 3_200; i++) hits[shardOf(crypto.randomUUID())]++;
    // 200 expected per shard; five standard deviations (about 68) either way.
    for (const n of hits) expect(Math.abs(n - 200)).toBeLessThan(70);
  });
});
