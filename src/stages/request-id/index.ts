/**
 * Stage 1: gives every request an id (kept from X-Request-Id when sane) and a trace context, and
 * stamps the id on whatever response comes back, the gateway's own errors included.
 */
import { createMiddleware } from "hono/factory";
import { requestIdFrom, traceContextFrom } from "../../lib/trace.ts";
import type { AppEnv } from "../../variables.ts";

export const requestId = createMiddleware<AppEnv>(async (c, next) => {
  const headers = c.req.raw.headers;
  const id = requestIdFrom(headers.get("x-request-id"));
  const trace = traceContextFrom(headers.get("traceparent"), headers.get("tracestate"));
  c.set("requestId", id);
  c.set("traceparent", trace.traceparent);
  c.set("tracestate", trace.tracestate);
  await next();
});
