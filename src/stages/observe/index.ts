/**
 * Stage 0, around everything else: opens the request's record, which later stages fill in, and
 * once the response is ready turns it into what operators see: the access log line (sampled, every
 * error kept), one metrics data point, per-route response counters, and Server-Timing when the
 * config asks for it.
 */
import { createMiddleware } from "hono/factory";
import { log } from "../../lib/log.ts";
import { count } from "../../lib/metrics.ts";
import { responseCounterKeys } from "../../lib/observability/config.ts";
import { accessLogLine, dataPoint, newRequestRecord, sampled, serverTiming } from "../../lib/request-record.ts";
import { metricsSink } from "../../services/metrics/sink.ts";
import type { AppEnv } from "../../variables.ts";

/** Counters of requests no route matched (404s, 405s, bad paths, the gateway's own endpoints). */
const UNROUTED = responseCounterKeys("-");

export const observe = createMiddleware<AppEnv>(async function observe(c, next) {
  const record = newRequestRecord(c.req.method, Date.now());
  c.set("record", record);
  await next();

  const response = c.res;
  const status = response.status;
  const now = Date.now();
  const counters = record.routeId !== null ? c.get("route").responseCounters : UNROUTED;
  count(counters[Math.floor(status / 100)] ?? (counters[0] as string));
  metricsSink(c.env.METRICS).write(dataPoint(record, status, now));

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
});
