/**
 * What the gateway did with one request, filled in by the stages as it passes through them and
 * turned into the access log line, the metrics data point and Server-Timing at the end. Pure data
 * and the functions that shape it; the observe stage does the writing.
 */
import type { TraceRecord } from "./tracing/spans.ts";

export interface RequestRecord {
  /** Epoch ms when the gateway got the request. */
  startedAt: number;
  method: string;
  /** The normalized path without the query (which can carry credentials). */
  path: string | null;
  routeId: string | null;
  cluster: string | null;
  /** The target of the last attempt (its URL origin and base path). */
  target: string | null;
  attempts: number;
  /** Time to response headers of the last attempt, in ms; null without an upstream call. */
  upstreamMs: number | null;
  /** Status of the last upstream answer; null when none came. */
  upstreamStatus: number | null;
  /** The decisions of the policy stages; null where the stage did not apply. */
  auth: "jwt" | "api-key" | "refused" | null;
  /** Who the caller is once authenticated: the API key's consumer or the JWT's subject; null when anonymous. */
  consumer: string | null;
  rateLimit: "allowed" | "denied" | "shadow-denied" | "fail-open" | "fail-closed" | null;
  breaker: "routed" | "no-healthy-upstream" | "upstream-overloaded" | null;
  coalesce: "leader" | "follower" | "alone" | "pass" | "bypass" | null;
  /** How the request's side of a split was chosen (the side itself is `cluster`). */
  split: "sticky" | "random" | "override" | null;
  idempotency: "first" | "replayed" | "conflict" | "mismatch" | null;
  /** Each policy the route ran, in order, with its decision; null on routes without policies. */
  policies: Array<[policy: string, decision: string]> | null;
  /** A WebSocket handshake's outcome: joined to the target, or refused by it; null for other requests. */
  websocket: "upgraded" | "refused" | null;
  /** The request's trace and its upstream calls, kept only when tracing is on; null otherwise. */
  trace: TraceRecord | null;
}

export function newRequestRecord(method: string, startedAt: number): RequestRecord {
  return {
    startedAt,
    method,
    path: null,
    routeId: null,
    cluster: null,
    target: null,
    attempts: 0,
    upstreamMs: null,
    upstreamStatus: null,
    auth: null,
    consumer: null,
    rateLimit: null,
    breaker: null,
    coalesce: null,
    split: null,
    idempotency: null,
    policies: null,
    websocket: null,
    trace: null,
  };
}

/** The trace id of a W3C traceparent ("00-<trace-id>-<parent-id>-<flags>"). */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

/** The access log line: one JSON object per request. */
export function accessLogLine(record: RequestRecord, facts: { status: number; requestId: string; traceparent: string; now: number }) {
  return {
    level: facts.status >= 500 ? ("error" as const) : ("info" as const),
    event: "access",
    time: new Date(record.startedAt).toISOString(),
    requestId: facts.requestId,
    traceId: traceIdOf(facts.traceparent),
    method: record.method,
    path: record.path,
    status: facts.status,
    route: record.routeId,
    consumer: record.consumer,
    cluster: record.cluster,
    target: record.target,
    attempts: record.attempts,
    upstreamStatus: record.upstreamStatus,
    durationMs: facts.now - record.startedAt,
    upstreamMs: record.upstreamMs,
    decisions: {
      auth: record.auth,
      split: record.split,
      rateLimit: record.rateLimit,
      idempotency: record.idempotency,
      breaker: record.breaker,
      coalesce: record.coalesce,
      ...(record.policies !== null && { policies: Object.fromEntries(record.policies) }),
      ...(record.websocket !== null && { websocket: record.websocket }),
    },
  };
}

/** Whether this request is written to the access log. */
export function sampled(status: number, record: RequestRecord, settings: { sampleRate: number; errors: boolean }, random: number): boolean {
  if (settings.errors && (status >= 500 || (record.upstreamStatus ?? 0) >= 500)) return true;
  return random < settings.sampleRate;
}

/** The metrics data point: Analytics Engine's shape (indexes, blobs, doubles). */
export interface RequestDataPoint {
  indexes: [string];
  /** route, cluster, method, status class, auth, rate limit, breaker, coalesce, consumer ("-" when anonymous). */
  blobs: string[];
  /** status, duration ms, upstream ms (-1 without an upstream call), attempts. */
  doubles: number[];
}

export function dataPoint(record: RequestRecord, status: number, now: number): RequestDataPoint {
  const route = record.routeId ?? "-";
  return {
    indexes: [route],
    blobs: [
      route,
      record.cluster ?? "-",
      record.method,
      `${Math.floor(status / 100)}xx`,
      record.auth ?? "-",
      record.rateLimit ?? "-",
      record.breaker ?? "-",
      record.coalesce ?? "-",
      record.consumer ?? "-",
    ],
    doubles: [status, now - record.startedAt, record.upstreamMs ?? -1, record.attempts],
  };
}

/**
 * Server-Timing (W3C): the gateway's own share and the upstream's. Workers' clocks advance only
 * across I/O, so the gateway's share is time spent waiting (KV, Durable Objects, the limiter), not
 * CPU time.
 */
export function serverTiming(record: RequestRecord, now: number): string {
  const total = now - record.startedAt;
  const timing =
    record.upstreamMs === null
      ? `gateway;dur=${total}`
      : `gateway;dur=${Math.max(0, total - record.upstreamMs)}, upstream;dur=${record.upstreamMs}`;
  if (record.policies === null) return timing;
  // One entry per policy, its decision in desc (a quoted-string, RFC 9110 section 5.6.4): names and decisions are tokens.
  return `${timing}${record.policies.map(([policy, decision]) => `, policy;desc="${policy}:${decision}"`).join("")}`;
}
