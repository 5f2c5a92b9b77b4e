/**
 * Shadow traffic: a copy of the request to a route's mirror cluster, sent in the background
 * (ctx.waitUntil) at the same time as the real one. Its answer is read and dropped, it has its own
 * deadline, and nothing about it (status, latency, failure) reaches the client or the primary
 * cluster's breaker. A request body is copied only when its declared length is within the
 * mirror's limit: the copy tees the stream, which holds at most that much for the slower reader.
 * A mirror cluster with a client certificate (mtlsCertificate) gets its copies through that binding,
 * whatever the route's own cluster does.
 */

import type { Balancer } from "../../lib/balancer.ts";
import { fetcherBinding } from "../../lib/bindings.ts";
import type { CompiledTarget } from "../../lib/cluster/config.ts";
import { MIRROR_MARKER } from "../../lib/headers.ts";
import { count } from "../../lib/metrics.ts";
import type { CompiledMirror } from "../../lib/mirror/config.ts";
import { type AttemptSpan, attemptSpan, attemptTraceparent, type TraceRecord } from "../../lib/tracing/spans.ts";
import { missingCertificate } from "./certificate.ts";

export interface MirroredRequest {
  method: string;
  pathAndQuery: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  declaredLength: string | null;
  /** Aborted when the gateway stops the client's body: the copy must then fail as the real request does. */
  bodyStopped: AbortSignal | null;
  /** The request's trace when tracing is on: each copy adds its client span to it. */
  trace: TraceRecord | null;
}

/** Whether this request is one of the sampled share. */
export function mirrorThis(mirror: CompiledMirror, random: number): boolean {
  return random * 10_000 < mirror.basisPoints;
}

async function sendCopy(
  mirror: CompiledMirror,
  balancer: Balancer,
  request: MirroredRequest,
  body: ReadableStream<Uint8Array> | null,
  fetcher: Fetcher | null,
  span: AttemptSpan | null,
): Promise<void> {
  const cluster = mirror.cluster;
  const index = balancer.pick();
  const target = cluster.targets[index] as CompiledTarget;
  try {
    // Marked, so the mirror can tell copies from real traffic (and never acts on them twice).
    const headers = new Headers(request.headers);
    headers.set(MIRROR_MARKER, "1");
    if (span !== null) {
      span.target = target.key;
      headers.set("traceparent", attemptTraceparent(request.trace as TraceRecord, span.spanId));
    }
    const url = target.origin + target.basePath + request.pathAndQuery;
    const init: RequestInit = {
      method: request.method,
      headers,
      body,
      redirect: "manual",
      signal:
        request.bodyStopped === null || body === null
          ? AbortSignal.timeout(mirror.timeoutMs)
          : AbortSignal.any([AbortSignal.timeout(mirror.timeoutMs), request.bodyStopped]),
    };
    const response = await (fetcher === null ? fetch(url, init) : fetcher.fetch(url, init));
    if (span !== null) span.status = response.status;
    await response.body?.cancel();
    count(mirror.metrics.sent);
  } catch {
    if (span !== null) span.failure = "mirror-failed";
    await body?.cancel().catch(() => {});
    count(mirror.metrics.failed);
  } finally {
    if (span !== null) span.endedAt = Date.now();
  }
}

/** Sends a copy in the background; with tracing on, its span joins the request's trace, ending when the copy does. */
function sendInBackground(
  mirror: CompiledMirror,
  balancer: Balancer,
  request: MirroredRequest,
  body: ReadableStream<Uint8Array> | null,
  fetcher: Fetcher | null,
  background: (work: Promise<unknown>) => void,
): void {
  const trace = request.trace;
  // The target is filled in once the copy has picked one (synchronously, below).
  const span = trace === null ? null : attemptSpan("mirror", mirror.cluster.name, "", Date.now());
  const work = sendCopy(mirror, balancer, request, body, fetcher, span);
  if (trace !== null && span !== null) {
    span.done = work;
    trace.attempts.push(span);
  }
  background(work);
}

/**
 * Starts the copy in the background and returns the body the real request should send (one branch
 * of a tee when the body is copied, else the original). `env` holds the mirror cluster's client
 * certificate binding, when it has one; a deployment without it fails the copy, never the request.
 */
export function startMirror(
  mirror: CompiledMirror,
  balancer: Balancer,
  request: MirroredRequest,
  background: (work: Promise<unknown>) => void,
  env: object,
): ReadableStream<Uint8Array> | null {
  const binding = mirror.cluster.mtlsBinding;
  const fetcher = binding === null ? null : fetcherBinding(env, binding);
  if (binding !== null && fetcher === null) {
    missingCertificate(mirror.cluster, "mirror");
    count(mirror.metrics.failed);
    return request.body;
  }
  if (request.body === null) {
    sendInBackground(mirror, balancer, request, null, fetcher, background);
    return null;
  }
  const declared = request.declaredLength === null ? Number.NaN : Number(request.declaredLength);
  if (!(declared <= mirror.maxBodyBytes)) {
    count(mirror.metrics.skippedBody);
    return request.body;
  }
  const [primary, copy] = request.body.tee();
  sendInBackground(mirror, balancer, request, withLength(copy, declared), fetcher, background);
  return withLength(primary, declared);
}

/**
 * A branch of the tee as a body of `length` bytes: the runtime sends a stream of known length with
 * Content-Length, as the client framed it, where a tee's branch alone would go out chunked. It pulls
 * from the branch only when its reader asks, so nothing more is held than the tee holds.
 */
function withLength(branch: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const reader = branch.getReader();
  return new ReadableStream<Uint8Array>(
    {
      expectedLength: length,
      pull: async (controller) => {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
