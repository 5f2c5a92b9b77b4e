/**
 * Ships this isolate's counter deltas to the fleet's MetricsAggregator shards, in the background
 * (waitUntil), at most once per REPORT_INTERVAL_MS, never per request: the hot path pays one clock
 * comparison. One report is outstanding at a time; a report that failed is sent again as it was
 * (same number) before anything newer, and what is counted meanwhile waits in the counters, so
 * losing the isolate loses at most what it had not yet had acknowledged.
 *
 * Sharding: an isolate always reports to the shard its id hashes to (AGGREGATOR_SHARDS of them),
 * so each shard hears from 1/N of the fleet; the admin read sums all shards (docs/operations.md
 * has the arithmetic).
 */
import type { MetricsAggregator, MetricsReport } from "../../durable-objects/metrics-aggregator.ts";
import { count, metricKey, takeDeltas } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";

/** How often an isolate reports while it serves traffic. */
export const REPORT_INTERVAL_MS = 5_000;

/** The aggregator objects; changing it moves every isolate to another shard, so old totals must be read before. */
export const AGGREGATOR_SHARDS = 16;

/** A shard that does not answer by then gets the report again next interval. */
const REPORT_TIMEOUT_MS = 2_000;

const REPORTS_OK = metricKey("metrics_reports_total", { outcome: "ok" });
const REPORTS_FAILED = metricKey("metrics_reports_total", { outcome: "failed" });

export type AggregatorNamespace = DurableObjectNamespace<MetricsAggregator>;

/** The name of shard `i`. */
export function shardName(i: number): string {
  return `metrics-shard-${i}`;
}

/** The shard an isolate reports to: FNV-1a of its id, modulo the shard count. */
export function shardOf(reporterId: string, shards = AGGREGATOR_SHARDS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < reporterId.length; i++) {
    hash ^= reporterId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

export interface MetricsReporterOptions {
  intervalMs?: number;
  /** Where the deltas come from: the isolate's counters (tests hand in their own). */
  takeDeltas?: () => Record<string, number>;
  /** The shard a reporter id goes to (tests pin their own). */
  shardFor?: (reporterId: string) => string;
}

export class MetricsReporter {
  readonly intervalMs: number;
  readonly #takeDeltas: () => Record<string, number>;
  readonly #shardFor: (reporterId: string) => string;
  /** Made on the first report: random values are only available while a request is served. */
  #id: string | null = null;
  #seq = 0;
  /** Taken from the counters, not yet acknowledged. */
  #pending: MetricsReport | null = null;
  #sending: Promise<boolean> | null = null;
  #lastAt: number | null = null;

  constructor(options: MetricsReporterOptions = {}) {
    this.intervalMs = options.intervalMs ?? REPORT_INTERVAL_MS;
    this.#takeDeltas = options.takeDeltas ?? takeDeltas;
    this.#shardFor = options.shardFor ?? ((id) => shardName(shardOf(id)));
  }

  /** Starts a report in the background when one is due; the first call only starts the clock. */
  maybeReport(now: number, namespace: AggregatorNamespace | undefined, background: (work: Promise<unknown>) => void): void {
    if (namespace === undefined || this.#sending !== null) return;
    const last = this.#lastAt;
    if (last !== null && now - last < this.intervalMs) return;
    this.#lastAt = now;
    if (last === null) return;
    background(this.#start(namespace));
  }

  /**
   * Reports everything counted so far and waits for the acknowledgement (the admin read, so that
   * its answer includes the isolate serving it). True when every report was acknowledged.
   */
  async flush(namespace: AggregatorNamespace): Promise<boolean> {
    if (this.#sending !== null) await this.#sending;
    // A report left over from a failure goes first, as it was; then one with what came since.
    const hadPending = this.#pending !== null;
    const ok = await this.#start(namespace);
    return ok && hadPending ? this.#start(namespace) : ok;
  }

  #start(namespace: AggregatorNamespace): Promise<boolean> {
    const sending = this.#send(namespace).finally(() => {
      this.#sending = null;
    });
    this.#sending = sending;
    return sending;
  }

  async #send(namespace: AggregatorNamespace): Promise<boolean> {
    this.#id ??= crypto.randomUUID();
    if (this.#pending === null) {
      const deltas = this.#takeDeltas();
      if (Object.keys(deltas).length === 0) return true;
      this.#pending = { reporter: this.#id, seq: ++this.#seq, deltas };
    }
    const report = this.#pending;
    try {
      const stub = namespace.get(namespace.idFromName(this.#shardFor(report.reporter)));
      await withTimeout(stub.report(report), REPORT_TIMEOUT_MS, () => new Error("timeout"));
      if (this.#pending === report) this.#pending = null;
      count(REPORTS_OK);
      return true;
    } catch {
      count(REPORTS_FAILED);
      return false;
    }
  }
}

/**
 * This isolate's reporter. Module scope because the counters it reports are per isolate
 * (lib/metrics.ts), and a Durable Object's isolate reports its own the same way.
 */
export const metricsReporter = new MetricsReporter();

/** Every shard's totals, summed; throws when a shard does not answer (a partial sum would read as a counter reset). */
export async function fleetTotals(namespace: AggregatorNamespace, timeoutMs: number): Promise<Record<string, number>> {
  const shards = await Promise.all(
    Array.from({ length: AGGREGATOR_SHARDS }, (_, i) => {
      const stub = namespace.get(namespace.idFromName(shardName(i)));
      return withTimeout(stub.totals(), timeoutMs, () => new Error("timeout"));
    }),
  );
  const sum: Record<string, number> = {};
  for (const totals of shards) for (const [key, value] of Object.entries(totals)) sum[key] = (sum[key] ?? 0) + value;
  return Object.fromEntries(Object.entries(sum).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
