/**
 * Where the per-request data points go: Workers Analytics Engine when the METRICS binding exists
 * (one writeDataPoint per request, no subrequest: the runtime ships them), and always an in-memory
 * ring of the isolate's latest points, so local development and tests can read what production
 * records (a slot write per request).
 */
import type { RequestDataPoint } from "../../lib/request-record.ts";

export interface MetricsSink {
  write(point: RequestDataPoint): void;
}

/** Analytics Engine: writes never block and never throw into the request. */
export class AnalyticsEngineSink implements MetricsSink {
  readonly #dataset: AnalyticsEngineDataset;

  constructor(dataset: AnalyticsEngineDataset) {
    this.#dataset = dataset;
  }

  write(point: RequestDataPoint): void {
    try {
      this.#dataset.writeDataPoint(point);
    } catch {
      // A metrics outage must not turn into a failed request.
    }
  }
}

/** The latest `capacity` points of this isolate, oldest first on read. */
export class MemorySink implements MetricsSink {
  readonly #points: RequestDataPoint[] = [];
  #next = 0;
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  write(point: RequestDataPoint): void {
    if (this.#points.length < this.capacity) this.#points.push(point);
    else this.#points[this.#next] = point;
    this.#next = (this.#next + 1) % this.capacity;
  }

  recent(): RequestDataPoint[] {
    if (this.#points.length < this.capacity) return [...this.#points];
    return [...this.#points.slice(this.#next), ...this.#points.slice(0, this.#next)];
  }
}

/**
 * The local fallback. Module scope because it is per isolate by nature, like the counters: the
 * admin metrics endpoint reads the isolate that serves it.
 */
export const localDataPoints = new MemorySink(1_000);

/** Writes to both: Analytics Engine for production queries, the local ring for the admin API. */
class BothSinks implements MetricsSink {
  readonly #remote: MetricsSink;

  constructor(remote: MetricsSink) {
    this.#remote = remote;
  }

  write(point: RequestDataPoint): void {
    this.#remote.write(point);
    localDataPoints.write(point);
  }
}

const analyticsSinks = new WeakMap<AnalyticsEngineDataset, MetricsSink>();

/** The sink for these bindings: Analytics Engine and the local ring when bound, the local ring otherwise. */
export function metricsSink(dataset: AnalyticsEngineDataset | undefined): MetricsSink {
  if (dataset === undefined) return localDataPoints;
  let sink = analyticsSinks.get(dataset);
  if (sink === undefined) {
    sink = new BothSinks(new AnalyticsEngineSink(dataset));
    analyticsSinks.set(dataset, sink);
  }
  return sink;
}
