/**
 * Counters kept in isolate memory: what the gateway decided and how its backends behaved. Each
 * isolate counts what it saw (module scope is the right home: the map is per isolate by nature);
 * the metrics reporter (services/metrics/reporter.ts) ships the deltas to the fleet's aggregator
 * objects in the background, and GET /__gateway/admin/metrics answers with their sum.
 *
 * Naming rule, for every feature that adds a family (so each plugs into the exposition, the JSON
 * and the dashboard without further wiring):
 * - `<feature>_<what>_total` for counters (`cache_requests_total{route,result}`): a name ending
 *   in `_total` is exposed as a Prometheus counter;
 * - `<feature>_<what>_<unit>` for histograms, with `_bucket{...,le}` keys made by `histogramKeys`
 *   (the `le` label last) and a `_sum` key: each bucket key holds the observations of its own
 *   bucket only, so an observation is two map updates, and the exposition makes them cumulative
 *   and derives `_count`;
 * - anything else is a gauge (summed over isolates);
 * - labels from config (route, cluster, policy) or from a closed set of values, never from the
 *   request itself (no paths, no raw header values): every family's cardinality is bounded by the
 *   config. A family gets its HELP line by an entry in FAMILIES.
 */

/** Escapes a label value as the Prometheus text format does (backslash, double quote, line feed). */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => (ch === "\n" ? "\\n" : `\\${ch}`));
}

/** A counter's identity: its name and labels, rendered once (at config compile) so counting is one Map update. */
export function metricKey(name: string, labels: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(",")}}`;
}

const counters = new Map<string, number>();

/** Adds `by` (default 1) to the counter `key` (from metricKey). */
export function count(key: string, by = 1): void {
  counters.set(key, (counters.get(key) ?? 0) + by);
}

/** Raises the gauge `key` to `value` if that is more than it holds: a high-water mark. */
export function countMax(key: string, value: number): void {
  if (value > (counters.get(key) ?? 0)) counters.set(key, value);
}

/** Every counter of this isolate, sorted by key. */
export function counterSnapshot(): Record<string, number> {
  return Object.fromEntries([...counters.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What each counter held when its deltas were last taken. */
const reported = new Map<string, number>();

/**
 * The change of every counter since the last call (only those that moved), and the new baseline.
 * The reporter calls it once per report; nothing is lost between calls, since the counters
 * themselves are never reset.
 */
export function takeDeltas(): Record<string, number> {
  const deltas: Record<string, number> = {};
  for (const [key, value] of counters) {
    const delta = value - (reported.get(key) ?? 0);
    if (delta !== 0) {
      deltas[key] = delta;
      reported.set(key, value);
    }
  }
  return deltas;
}

/** Request and upstream duration buckets, in seconds (Prometheus' defaults; +Inf after the last). */
export const DURATION_BUCKETS_SEC = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** One histogram's keys for one label set: a bucket key per bound and one for +Inf, and the sum. */
export interface HistogramKeys {
  bounds: readonly number[];
  /** By bucket: `bounds.length + 1` keys, the last one +Inf. */
  buckets: readonly string[];
  sum: string;
}

/** The keys of histogram `name` (without `_bucket`) for `labels`; `le` goes last. */
export function histogramKeys(name: string, labels: Readonly<Record<string, string>>, bounds: readonly number[]): HistogramKeys {
  return {
    bounds,
    buckets: [...bounds.map(String), "+Inf"].map((le) => metricKey(`${name}_bucket`, { ...labels, le })),
    sum: metricKey(`${name}_sum`, labels),
  };
}

/** Counts `value` into its own bucket of `histogram` and adds it to the sum: two map updates. */
export function observe(histogram: HistogramKeys, value: number): void {
  const bounds = histogram.bounds;
  let i = 0;
  while (i < bounds.length && value > (bounds[i] as number)) i++;
  count(histogram.buckets[i] as string);
  count(histogram.sum, value);
}

export type MetricType = "counter" | "gauge" | "histogram";

/**
 * The gateway's families with their HELP text. A family missing here is still exposed (typed by
 * the naming rule above, with a generic HELP line); listing it documents it.
 */
export const FAMILIES: Readonly<Record<string, { type: MetricType; help: string; bounds?: readonly number[] }>> = {
  http_requests_total: { type: "counter", help: "Requests answered, by route, method and status class." },
  http_consumer_requests_total: {
    type: "counter",
    help: "Requests answered, by route, consumer (an allow-listed API-key consumer or JWT subject; other, or - when anonymous) and status class.",
  },
  http_request_duration_seconds: {
    type: "histogram",
    help: "Time from the request's arrival to its response, by route.",
    bounds: DURATION_BUCKETS_SEC,
  },
  http_upstream_duration_seconds: {
    type: "histogram",
    help: "Time to response headers of a request's last upstream attempt, by route.",
    bounds: DURATION_BUCKETS_SEC,
  },
  rate_limit_decisions_total: { type: "counter", help: "Rate-limit decisions, by route, policy and outcome." },
  rate_limit_backend_calls_total: { type: "counter", help: "Calls to a rate-limit backend, by backend." },
  breaker_refusals_total: { type: "counter", help: "Requests refused without an upstream call, by cluster and reason." },
  breaker_reports_total: { type: "counter", help: "Outcome reports to a cluster's breaker object, by outcome." },
  breaker_transitions_total: {
    type: "counter",
    help: "Target state changes decided by a cluster's breaker (or by an isolate judging alone), by cluster and new state.",
  },
  coalesce_requests_total: { type: "counter", help: "Requests on coalescing routes, by route and role." },
  coalesce_calls_total: { type: "counter", help: "Upstream calls made by coalescing leaders, by route and outcome." },
  coalesce_follower_timeouts_total: { type: "counter", help: "Followers that stopped waiting for their leader." },
  coalesce_vary_mismatches_total: { type: "counter", help: "Followers whose Vary headers differed from the shared answer's." },
  coalesce_followers_per_call: { type: "histogram", help: "Followers that shared one upstream call." },
  coalesce_buffered_bytes: { type: "gauge", help: "Bytes of shared answers held in memory now, over all isolates." },
  coalesce_buffered_bytes_peak: { type: "gauge", help: "The sum of each isolate's high-water mark of buffered bytes." },
  cache_requests_total: { type: "counter", help: "Requests on caching routes, by route and result." },
  cache_stores_total: { type: "counter", help: "Answers stored in the cache, by route." },
  cache_not_stored_total: { type: "counter", help: "Answers the cache could not or would not store, by route." },
  split_requests_total: { type: "counter", help: "Requests of a traffic split, by route, side and how the side was chosen." },
  mirror_requests_total: { type: "counter", help: "Mirrored copies, by route and outcome." },
  idempotency_requests_total: { type: "counter", help: "Requests with an Idempotency-Key, by route and outcome." },
  jwks_fetches_total: {
    type: "counter",
    help: "JWKS fetches from identity providers, by outcome (failed: unreachable or no usable key set).",
  },
  policy_decisions_total: { type: "counter", help: "Policy decisions, by route, policy and decision." },
  tracing_spans_exported_total: { type: "counter", help: "Spans the collector accepted." },
  tracing_export_failures_total: {
    type: "counter",
    help: "Span exports that failed (collector unreachable, slow, refusing, or a secret header missing); their spans are dropped.",
  },
  tracing_spans_dropped_total: {
    type: "counter",
    help: "Spans dropped without an export attempt: the isolate's buffer was full while an export was pending.",
  },
  metrics_reports_total: { type: "counter", help: "Metric reports an isolate sent to the aggregator objects, by outcome." },
};

/** A family's type: from FAMILIES, else by the naming rule. */
export function familyType(name: string): MetricType {
  return FAMILIES[name]?.type ?? (name.endsWith("_total") ? "counter" : "gauge");
}
