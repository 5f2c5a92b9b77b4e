/**
 * A route's request metrics: its `http_requests_total` keys by method and status class, its
 * request and upstream duration histograms, and (when the config names consumers) its
 * `http_consumer_requests_total` keys. Rendered once at compile, so a request counts with a handful
 * of map updates and builds no string.
 */
import { count, DURATION_BUCKETS_SEC, type HistogramKeys, histogramKeys, metricKey, observe } from "../metrics.ts";
import type { RequestRecord } from "../request-record.ts";

/** Methods with a label of their own; any other counts as "other", so a client cannot mint label values. */
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const OTHER_METHOD = METHODS.length;
const METHOD_INDEX = new Map<string, number>(METHODS.map((method, i) => [method, i]));
const STATUS_CLASSES = [0, 1, 2, 3, 4, 5] as const;

/** The `consumer` label of an authenticated caller the allow-list does not name, and of an anonymous one. */
export const OTHER_CONSUMER = "other";
export const ANONYMOUS_CONSUMER = "-";

export interface RouteMetrics {
  /** By method index (METHODS, then other), then status class (index 1 = 1xx ... 5 = 5xx). */
  requests: readonly (readonly string[])[];
  duration: HistogramKeys;
  upstream: HistogramKeys;
  /** Keys by status class, per allow-listed consumer; null when the config names none. */
  consumers: {
    named: ReadonlyMap<string, readonly string[]>;
    other: readonly string[];
    anonymous: readonly string[];
  } | null;
}

function byClass(name: string, labels: Record<string, string>): readonly string[] {
  return STATUS_CLASSES.map((n) => metricKey(name, { ...labels, class: `${n}xx` }));
}

/** The keys of route `route` ("-": requests no route matched); `consumers` is the config's allow-list, or null. */
export function routeMetrics(route: string, consumers: readonly string[] | null): RouteMetrics {
  const consumerKeys = (consumer: string) => byClass("http_consumer_requests_total", { route, consumer });
  return {
    requests: [...METHODS, "other"].map((method) => byClass("http_requests_total", { route, method })),
    duration: histogramKeys("http_request_duration_seconds", { route }, DURATION_BUCKETS_SEC),
    upstream: histogramKeys("http_upstream_duration_seconds", { route }, DURATION_BUCKETS_SEC),
    consumers:
      consumers === null || consumers.length === 0
        ? null
        : {
            named: new Map(consumers.map((consumer) => [consumer, consumerKeys(consumer)])),
            other: consumerKeys(OTHER_CONSUMER),
            anonymous: consumerKeys(ANONYMOUS_CONSUMER),
          },
  };
}

/** Counts one answered request: its method and status class, its duration and its upstream time. */
export function countRequest(metrics: RouteMetrics, record: RequestRecord, status: number, durationMs: number): void {
  const statusClass = Math.floor(status / 100);
  const byMethod = metrics.requests[METHOD_INDEX.get(record.method) ?? OTHER_METHOD] as readonly string[];
  count(byMethod[statusClass] ?? (byMethod[0] as string));
  observe(metrics.duration, durationMs / 1000);
  if (record.upstreamMs !== null) observe(metrics.upstream, record.upstreamMs / 1000);
  const consumers = metrics.consumers;
  if (consumers !== null) {
    const keys = record.consumer === null ? consumers.anonymous : (consumers.named.get(record.consumer) ?? consumers.other);
    count(keys[statusClass] ?? (keys[0] as string));
  }
}
