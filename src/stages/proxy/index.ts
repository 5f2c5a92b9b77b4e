/**
 * Last stage: forwards the request to its cluster (the route's, or its side of a split) and
 * streams the answer back. Bodies are never buffered; retries happen only where they are safe (idempotent method, no request body)
 * and within the route's attempts, deadline and retry budget.
 */
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../../errors.ts";
import type { Balancer } from "../../lib/balancer.ts";
import type { CompiledCluster, CompiledTarget } from "../../lib/cluster/config.ts";
import { withoutQueryParam } from "../../lib/credentials.ts";
import { downstreamResponse } from "../../lib/headers.ts";
import type { RetryBudget } from "../../lib/retry/budget.ts";
import type { CompiledRetry, RetryOn } from "../../lib/retry/config.ts";
import { type AttemptSpan, attemptSpan, attemptTraceparent, type TraceRecord, traceRecordFor } from "../../lib/tracing/spans.ts";
import { upstreamHeadersFor } from "../../lib/upstream-headers.ts";
import type { ClusterRuntime } from "../../runtime/isolate-runtime.ts";
import { type ClusterHealth, unavailableError } from "../../services/breaker/cluster-health.ts";
import type { AppEnv } from "../../variables.ts";
import { certificateFetcher } from "./certificate.ts";
import { type AttemptFailure, type AttemptResult, sendAttempt } from "./forward.ts";
import { mirrorThis, startMirror } from "./mirror.ts";
import { WatchedBody } from "./request-body.ts";

/** RFC 9110 section 9.2.2: repeating these has the same effect as sending them once. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

function retriableStatus(on: ReadonlySet<RetryOn>, status: number): boolean {
  if (status < 500) return false;
  if (on.has("5xx")) return true;
  return on.has("gateway-error") && (status === 502 || status === 503 || status === 504);
}

/** An answer that is not HTTP is what an intermediary would answer 502 for: a gateway error. */
function retriableFailure(on: ReadonlySet<RetryOn>, failure: AttemptFailure): boolean {
  if (failure === "invalid-response") return on.has("gateway-error") || on.has("5xx");
  return failure !== "body-stopped" && failure !== "body-slow" && on.has(failure);
}

function tooLarge(maxBodyBytes: number): GatewayError {
  return new GatewayError("payload-too-large", `The body may be at most ${maxBodyBytes} bytes.`);
}

/** Failures that are the client's: each is answered as such and never counted against the upstream. */
type ClientFault = "too-large" | "incomplete" | "slow-body" | "gone";

function clientFaultError(fault: ClientFault, maxBodyBytes: number | null): GatewayError {
  switch (fault) {
    case "too-large":
      return tooLarge(maxBodyBytes ?? 0);
    case "incomplete":
      return new GatewayError("incomplete-body", "The request body ended before it was complete, or its framing was malformed.");
    case "slow-body":
      return new GatewayError("request-timeout", "The request body did not arrive within the route's deadline.");
    case "gone":
      // The client will not read this; the access log still shows a client error, not an upstream one.
      return new GatewayError("incomplete-body", "The client closed the connection before the exchange completed.");
  }
}

/**
 * Whose fault a finished attempt is, when it is the client's; null when the result stands for the
 * upstream. `askClient` reads request.signal (enable_request_signal: aborted once the client
 * disconnects), skipped on the hot path when nothing would come of it.
 */
function clientFaultOf(result: AttemptResult, body: WatchedBody | null, request: Request, askClient: boolean): ClientFault | null {
  if (body !== null) {
    const outcome = body.outcome;
    if (outcome === "too-large" || outcome === "incomplete") return outcome;
    // The deadline passed while the upstream was waiting for the client's next chunk, or before the
    // upstream had had its own time because the client's body was slow to come.
    if (result.kind === "failure" && result.failure === "body-slow") return "slow-body";
    if (result.kind === "failure" && result.failure === "timeout" && outcome === "streaming" && body.waitingOnClient) return "slow-body";
  }
  return askClient && request.signal.aborted ? "gone" : null;
}

/** Full-jitter exponential backoff (AWS architecture blog), capped. */
function backoffMs(retry: CompiledRetry, retryNumber: number): number {
  const ceiling = Math.min(retry.backoffMaxMs, retry.backoffBaseMs * 2 ** (retryNumber - 1));
  return Math.floor(Math.random() * ceiling);
}

function queryOf(url: string): string {
  const q = url.indexOf("?");
  if (q === -1) return "";
  const hash = url.indexOf("#", q);
  return hash === -1 ? url.slice(q) : url.slice(q, hash);
}

/** A routable target not yet tried, else any routable one; -1 when none is routable. */
function pickTarget(balancer: Balancer, health: ClusterHealth | null, tried: ReadonlySet<number>, now: number): number {
  if (health === null) {
    const fresh = balancer.pick((i) => tried.has(i));
    return fresh !== -1 ? fresh : balancer.pick();
  }
  const fresh = balancer.pick((i) => tried.has(i) || !health.routable(i, now));
  return fresh !== -1 ? fresh : balancer.pick((i) => !health.routable(i, now));
}

/** Whether a retry would find a target: without one, the answer in hand is better than none. */
function pickable(cluster: CompiledCluster, health: ClusterHealth | null, now: number): boolean {
  if (health === null) return true;
  for (let i = 0; i < cluster.targets.length; i++) if (health.routable(i, now)) return true;
  return false;
}

export const proxy = createMiddleware<AppEnv>(async (c) => {
  const request = c.req.raw;
  const route = c.get("route");
  const cluster = c.get("cluster");
  const { balancer } = c.get("clusterRuntime");
  const auth = route.auth;
  // Origin mTLS: every attempt goes through the cluster's certificate binding. A cluster without one
  // looks nothing up, and its attempts use the global fetch.
  const binding = cluster.mtlsBinding;
  const fetcher = binding === null ? null : certificateFetcher(c.env, cluster, binding, c.get("requestId"));

  // A body an earlier stage read in full (idempotency) was held to the route's limit there. A
  // streamed one is watched on its way: whose fault a failed attempt is depends on it.
  const buffered = c.get("bufferedBody");
  let watched: WatchedBody | null = null;
  let body: ReadableStream<Uint8Array> | null = null;
  if (buffered !== undefined) {
    body = buffered.byteLength > 0 ? new Blob([buffered]).stream() : null;
  } else if (request.body !== null && request.method !== "GET" && request.method !== "HEAD") {
    // (A GET or HEAD reaches here only with a declared empty body, which is no body.)
    const declared = request.headers.get("content-length");
    const declaredLength = declared === null || !/^\d+$/.test(declared) ? null : Number(declared);
    // Refuse before reading a byte; the runtime holds the body to its declared length.
    if (declaredLength !== null && route.maxBodyBytes !== null && declaredLength > route.maxBodyBytes) throw tooLarge(route.maxBodyBytes);
    watched = new WatchedBody(request.body, { maxBytes: route.maxBodyBytes, declaredLength });
    body = watched.stream;
  }

  const url = request.url;
  // Built as coalescing builds them to judge sharing: one function, so both see one request.
  const headers = upstreamHeadersFor(request, {
    route,
    authority: c.get("authority"),
    identityHeaders: c.get("identityHeaders"),
    policyEdits: c.get("policyEdits"),
    requestId: c.get("requestId"),
    traceparent: c.get("traceparent"),
    tracestate: c.get("tracestate"),
  });
  const query = auth?.stripQueryParam ? withoutQueryParam(queryOf(url), auth.stripQueryParam) : queryOf(url);
  const pathAndQuery = route.upstreamPath(c.get("normalizedPath"), c.get("routeParams")) + query;
  const method = request.method;
  const record = c.get("record");
  // Tracing notes each upstream call; without it the loop below pays one null check per attempt.
  const tracing = c.get("observability")?.tracing ?? null;
  const trace: TraceRecord | null =
    tracing === null ? null : traceRecordFor(request.headers.get("traceparent"), c.get("traceparent"), tracing.sampleRate, Math.random());
  record.trace = trace;
  if (route.mirror !== null && mirrorThis(route.mirror, Math.random())) {
    const declaredLength = buffered !== undefined ? String(buffered.byteLength) : request.headers.get("content-length");
    body = startMirror(
      route.mirror,
      (c.get("routeRuntime").mirror as ClusterRuntime).balancer,
      { method, pathAndQuery, headers, body, declaredLength, bodyStopped: watched?.stopped ?? null, trace },
      (work) => c.executionCtx.waitUntil(work),
      c.env,
    );
  }
  const deadline = Date.now() + route.timeoutMs;
  const retry = route.retry !== null && body === null && IDEMPOTENT.has(method) ? route.retry : null;
  const budget = retry === null ? null : (c.get("routeRuntime").retryBudget as RetryBudget);
  budget?.recordRequest();

  const health = c.get("clusterHealth");
  const tried = new Set<number>();
  let lastFailure: AttemptFailure = "connect-failure";
  for (let attempt = 0; ; attempt++) {
    const now = Date.now();
    // A fresh target first; when every routable one has been tried, a tried one again.
    const targetIndex = pickTarget(balancer, health, tried, now);
    if (targetIndex === -1) {
      if (attempt > 0) break;
      throw unavailableError((health as ClusterHealth).refusal(now));
    }
    tried.add(targetIndex);
    const target = cluster.targets[targetIndex] as CompiledTarget;

    let span: AttemptSpan | null = null;
    if (trace !== null) {
      // The origin's spans nest under this attempt's: its traceparent names the attempt's span.
      span = attemptSpan("attempt", cluster.name, target.key, now);
      trace.attempts.push(span);
      headers.set("traceparent", attemptTraceparent(trace, span.spanId));
    }
    balancer.started(targetIndex);
    const lease = health?.begin(targetIndex) ?? null;
    const result = await sendAttempt(cluster, {
      target,
      pathAndQuery,
      method,
      headers,
      body,
      deadline,
      bodyReadInWorker: c.get("responseReadInWorker") === true,
      bodyStopped: watched?.stopped ?? null,
      clientWaitMs: watched === null ? null : (at) => (watched as WatchedBody).clientWaitMs(at),
      fetcher,
    }).finally(() => balancer.finished(targetIndex));
    const end = Date.now();
    record.target = target.key;
    record.attempts = attempt + 1;
    record.upstreamMs = end - now;
    record.upstreamStatus = result.kind === "response" ? result.response.status : null;
    if (span !== null) {
      span.endedAt = end;
      span.status = record.upstreamStatus;
      span.failure = result.kind === "failure" ? result.failure : null;
    }
    const clientFault = clientFaultOf(result, watched, request, health !== null || result.kind === "failure");
    // Only evidence about the upstream feeds its health: an attempt the client spoiled (a body it
    // broke, abandoned, trickled or sent too much of) or walked away from says nothing about it.
    // Time spent waiting on the client's body is not the upstream's latency either.
    health?.end(
      targetIndex,
      lease,
      clientFault !== null ? null : result.kind === "failure" || result.response.status >= 500 ? "failure" : "success",
      end - now - (watched?.clientWaitMs(end) ?? 0),
    );
    if (clientFault !== null) {
      if (result.kind === "response") await result.body?.cancel().catch(() => {});
      throw clientFaultError(clientFault, route.maxBodyBytes);
    }

    const mayRetry = retry !== null && attempt < retry.attempts && Date.now() < deadline && pickable(cluster, health, Date.now());
    if (result.kind === "response") {
      const { response, body: responseBody } = result;
      if (!(mayRetry && retriableStatus(retry.on, response.status) && (budget as RetryBudget).tryRetry())) {
        if (c.get("wantsUpstreamHeaders") === true) c.set("upstreamHeaders", response.headers);
        return downstreamResponse(response, responseBody, c.get("requestId"));
      }
      await responseBody?.cancel();
    } else {
      lastFailure = result.failure;
      if (!(mayRetry && retriableFailure(retry.on, result.failure) && (budget as RetryBudget).tryRetry())) break;
    }
    const pause = Math.min(backoffMs(retry, attempt + 1), deadline - Date.now());
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }

  if (lastFailure === "timeout") throw new GatewayError("upstream-timeout", "The upstream did not answer in time.");
  if (lastFailure === "invalid-response")
    throw new GatewayError("upstream-invalid-response", "The upstream's answer was not a valid HTTP response.");
  throw new GatewayError("upstream-unavailable", "The upstream could not be reached.");
});
