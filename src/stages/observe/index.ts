/**
 * Stage 0, around everything else: opens the request's record, which later stages fill in, and
 * once the response is ready turns it into what operators see: the access log line (sampled, every
 * error kept), one metrics data point, the route's request counters and duration histograms, and
 * Server-Timing when the config asks for it, and with tracing on, the request's spans (server and
 * client spans, built from the record only when the request is exported). Every few seconds it also starts the isolate's metrics
 * report in the background (services/metrics/reporter.ts).
 */
import { createMiddleware } from "hono/factory";
import { log } from "../../lib/log.ts";
import { countRequest, routeMetrics } from "../../lib/observability/route-metrics.ts";
import { accessLogLine, dataPoint, newRequestRecord, type RequestRecord, sampled, serverTiming } from "../../lib/request-record.ts";
import type { CompiledTracing } from "../../lib/tracing/config.ts";
import { clientSpan, exportsTrace, type Span, serverSpan, traceRecordFor } from "../../lib/tracing/spans.ts";
import { metricsReporter } from "../../services/metrics/reporter.ts";
import { metricsSink } from "../../services/metrics/sink.ts";
import { type ExportTarget, enqueueSpans } from "../../services/tracing/exporter.ts";
import type { AppEnv } from "../../variables.ts";

type ObserveContext = Parameters<Parameters<typeof createMiddleware<AppEnv>>[0]>[0];

/**
 * Queues the request's spans when its trace is exported: the server span, and a client span per
 * upstream attempt and mirror copy; a copy still in flight adds its span when it ends.
 */
function exportTrace(c: ObserveContext, record: RequestRecord, tracing: CompiledTracing, status: number, now: number): void {
  // A request that never reached the proxy (refused, answered from the cache, a coalescing follower) has only its server span.
  const trace =
    record.trace ?? traceRecordFor(c.req.raw.headers.get("traceparent"), c.get("traceparent"), tracing.sampleRate, Math.random());
  if (!exportsTrace(trace, record, status)) return;
  const target: ExportTarget = { settings: tracing, env: c.env, background: (work) => c.executionCtx.waitUntil(work) };
  const spans: Span[] = [serverSpan(record, trace, { status, requestId: c.get("requestId"), now })];
  let attempts = 0;
  for (const attempt of trace.attempts) {
    if (attempt.kind === "attempt") attempts++;
    if (attempt.endedAt !== null) {
      spans.push(clientSpan(record, trace, attempt, attempts));
    } else {
      const index = attempts;
      target.background(
        (attempt.done ?? Promise.resolve()).then(() => enqueueSpans([clientSpan(record, trace, attempt, index)], target, Date.now())),
      );
    }
  }
  enqueueSpans(spans, target, now);
}

/** Counters of requests no route matched (404s, 405s, bad paths, the gateway's own endpoints). */
const UNROUTED = routeMetrics("-", null);

export const observe = createMiddleware<AppEnv>(async function observe(c, next) {
  const record = newRequestRecord(c.req.method, Date.now());
  c.set("record", record);
  await next();

  const response = c.res;
  const status = response.status;
  const now = Date.now();
  countRequest(record.routeId !== null ? c.get("route").metrics : UNROUTED, record, status, now - record.startedAt);
  metricsSink(c.env.METRICS).write(dataPoint(record, status, now));
  metricsReporter.maybeReport(now, c.env.METRICS_AGGREGATOR, (work) => c.executionCtx.waitUntil(work));

  const settings = c.get("observability");
  if (settings === undefined) return;
  if (settings.serverTiming) {
    try {
      response.headers.append("server-timing", serverTiming(record, now));
    } catch {
      // Every response the stages build has mutable headers; should one not, it goes out without timing.
    }
  }
  if (sampled(status, record, settings.accessLog, Math.random())) {
    // Built only here, once the sample says it will be written: an unsampled request allocates nothing for its log.
    log(accessLogLine(record, { status, requestId: c.get("requestId"), traceparent: c.get("traceparent"), now }));
  }
  if (settings.tracing !== null) exportTrace(c, record, settings.tracing, status, now);
});
