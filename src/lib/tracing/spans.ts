/**
 * A request's spans, built from its record once the response is known: one server span for the
 * request (its parent the caller's span from traceparent) and one client span per upstream
 * attempt and mirror copy (their parent the server span). Pure data and the functions that shape
 * it; the proxy notes the attempts, the observe stage builds and queues the spans.
 */
import type { RequestRecord } from "../request-record.ts";
import { newSpanId, parseTraceparent } from "../trace.ts";

/** One upstream call as the proxy (or the mirror) saw it. */
export interface AttemptSpan {
  spanId: string;
  /** A real attempt, or a mirror copy whose answer is dropped. */
  kind: "attempt" | "mirror";
  /** The target's URL origin and base path. */
  target: string;
  /** The cluster the call went to. */
  cluster: string;
  startedAt: number;
  /** null while a mirror copy is still in flight; `done` resolves once it is set. */
  endedAt: number | null;
  status: number | null;
  /** Why no usable answer came (connect-failure, timeout, ...); null when one did. */
  failure: string | null;
  done: Promise<void> | null;
}

/** A request's trace: its ids, the sampling decision and the upstream calls made for it. */
export interface TraceRecord {
  traceId: string;
  /** The gateway's own span (the server span), as the gateway's traceparent names it. */
  serverSpanId: string;
  /** The caller's span, when the request continued its trace; null for a trace the gateway started. */
  parentSpanId: string | null;
  /** Decided when the request arrives: the caller's sampled flag, else the configured share. */
  sampled: boolean;
  attempts: AttemptSpan[];
}

/**
 * The trace of a request: ids from the gateway's traceparent (lib/trace.ts continued the caller's
 * trace or started one) and, when it continued the caller's, the caller's span as the parent. A
 * caller's sampled flag decides (parent-based sampling, as OpenTelemetry's default sampler does);
 * without a caller's trace, `random < sampleRate` does.
 */
export function traceRecordFor(incoming: string | null, gatewayTraceparent: string, sampleRate: number, random: number): TraceRecord {
  const traceId = gatewayTraceparent.slice(3, 35);
  const serverSpanId = gatewayTraceparent.slice(36, 52);
  const caller = incoming === null ? null : parseTraceparent(incoming);
  if (caller !== null && caller.traceId === traceId) {
    return { traceId, serverSpanId, parentSpanId: caller.parentId, sampled: (Number.parseInt(caller.flags, 16) & 1) === 1, attempts: [] };
  }
  return { traceId, serverSpanId, parentSpanId: null, sampled: random < sampleRate, attempts: [] };
}

/** A started upstream call's span; its end is filled in when the call ends. */
export function attemptSpan(kind: AttemptSpan["kind"], cluster: string, target: string, startedAt: number): AttemptSpan {
  return { spanId: newSpanId(), kind, cluster, target, startedAt, endedAt: null, status: null, failure: null, done: null };
}

/** The traceparent an upstream call carries: the trace, this call's span as the parent, the sampling decision. */
export function attemptTraceparent(trace: TraceRecord, spanId: string): string {
  return `00-${trace.traceId}-${spanId}-${trace.sampled ? "01" : "00"}`;
}

/** Whether the request's spans are exported: when sampled, and always when it ended in or met a 5xx. */
export function exportsTrace(trace: TraceRecord, record: RequestRecord, status: number): boolean {
  return trace.sampled || status >= 500 || (record.upstreamStatus ?? 0) >= 500;
}

export type AttributeValue = string | number | boolean;

/** A finished span, ready for encoding (otlp.ts). Times are epoch ms. */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: "server" | "client";
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue>;
  error: boolean;
}

/** The server span: the request, its route, cluster, target, consumer and each stage's decision. */
export function serverSpan(record: RequestRecord, trace: TraceRecord, facts: { status: number; requestId: string; now: number }): Span {
  const attributes: Record<string, AttributeValue> = {
    "http.request.method": record.method,
    "http.response.status_code": facts.status,
    "edgegate.request_id": facts.requestId,
    "edgegate.attempts": record.attempts,
  };
  if (record.path !== null) attributes["url.path"] = record.path;
  if (record.routeId !== null) attributes["http.route"] = record.routeId;
  if (record.cluster !== null) attributes["edgegate.cluster"] = record.cluster;
  if (record.target !== null) attributes["edgegate.target"] = record.target;
  if (record.consumer !== null) attributes["edgegate.consumer"] = record.consumer;
  if (record.upstreamStatus !== null) attributes["edgegate.upstream_status"] = record.upstreamStatus;
  const decisions = {
    auth: record.auth,
    split: record.split,
    rate_limit: record.rateLimit,
    idempotency: record.idempotency,
    breaker: record.breaker,
    coalesce: record.coalesce,
    websocket: record.websocket,
  };
  for (const [stage, decision] of Object.entries(decisions)) if (decision !== null) attributes[`edgegate.decision.${stage}`] = decision;
  for (const [policy, decision] of record.policies ?? []) attributes[`edgegate.decision.policy.${policy}`] = decision;
  return {
    traceId: trace.traceId,
    spanId: trace.serverSpanId,
    parentSpanId: trace.parentSpanId,
    name: `${record.method} ${record.routeId ?? "-"}`,
    kind: "server",
    startMs: record.startedAt,
    endMs: facts.now,
    attributes,
    error: facts.status >= 500,
  };
}

/** The client span of one upstream attempt or mirror copy; `index` counts the request's attempts from 1. */
export function clientSpan(record: RequestRecord, trace: TraceRecord, attempt: AttemptSpan, index: number): Span {
  const attributes: Record<string, AttributeValue> = {
    "http.request.method": record.method,
    "edgegate.cluster": attempt.cluster,
    "edgegate.target": attempt.target,
    "server.address": hostOf(attempt.target),
    "edgegate.mirror": attempt.kind === "mirror",
  };
  if (attempt.kind === "attempt") attributes["http.request.resend_count"] = index - 1;
  if (record.routeId !== null) attributes["http.route"] = record.routeId;
  if (attempt.status !== null) attributes["http.response.status_code"] = attempt.status;
  if (attempt.failure !== null) attributes["error.type"] = attempt.failure;
  return {
    traceId: trace.traceId,
    spanId: attempt.spanId,
    parentSpanId: trace.serverSpanId,
    name: `${record.method} ${attempt.kind === "mirror" ? "mirror " : ""}${attempt.cluster}`,
    kind: "client",
    startMs: attempt.startedAt,
    endMs: attempt.endedAt ?? attempt.startedAt,
    attributes,
    error: attempt.failure !== null || (attempt.status ?? 0) >= 500,
  };
}

function hostOf(target: string): string {
  const scheme = target.indexOf("://");
  const rest = scheme === -1 ? target : target.slice(scheme + 3);
  const slash = rest.indexOf("/");
  return slash === -1 ? rest : rest.slice(0, slash);
}
