/**
 * Last stage: forwards the request to its cluster (the route's, or its side of a split) and
 * streams the answer back. Bodies are never buffered; retries happen only where they are safe (idempotent method, no request body)
 * and within the route's attempts, deadline and retry budget.
 */
import { createMiddleware } from "hono/factory";
import type { CompiledCluster, CompiledRetry, CompiledTarget } from "../../config/compile.ts";
import type { RetryOn } from "../../config/schema.ts";
import type { AppEnv } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import type { Balancer } from "../../lib/balancer.ts";
import { withoutQueryParam } from "../../lib/credentials.ts";
import { downstreamResponse } from "../../lib/headers.ts";
import { upstreamHeadersFor } from "../../lib/upstream-headers.ts";
import { type ClusterHealth, unavailableError } from "../../services/breaker/cluster-health.ts";
import { limitBody } from "./body-limit.ts";
import { type AttemptFailure, sendAttempt } from "./forward.ts";
import { mirrorThis, startMirror } from "./mirror.ts";

/** RFC 9110 section 9.2.2: repeating these has the same effect as sending them once. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

function retriableStatus(on: ReadonlySet<RetryOn>, status: number): boolean {
  if (status < 500) return false;
  if (on.has("5xx")) return true;
  return on.has("gateway-error") && (status === 502 || status === 503 || status === 504);
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
  const auth = route.auth;

  // A body an earlier stage read in full (idempotency) was held to the route's limit there.
  const buffered = c.get("bufferedBody");
  let body: ReadableStream<Uint8Array> | null =
    buffered === undefined ? request.body : buffered.byteLength > 0 ? new Blob([buffered]).stream() : null;
  let bodyExceeded = () => false;
  if (buffered === undefined && body !== null && route.maxBodyBytes !== null) {
    const declared = request.headers.get("content-length");
    if (declared !== null) {
      // Refuse before reading a byte; the runtime holds the body to its declared length.
      if (Number(declared) > route.maxBodyBytes)
        throw new GatewayError("payload-too-large", `The body may be at most ${route.maxBodyBytes} bytes.`);
    } else {
      const limited = limitBody(body, route.maxBodyBytes);
      body = limited.body;
      bodyExceeded = limited.exceeded;
    }
  }

  const url = request.url;
  // Built as coalescing builds them to judge sharing: one function, so both see one request.
  const headers = upstreamHeadersFor(request, {
    route,
    identityHeaders: c.get("identityHeaders"),
    requestId: c.get("requestId"),
    traceparent: c.get("traceparent"),
    tracestate: c.get("tracestate"),
  });
  const query = auth?.stripQueryParam ? withoutQueryParam(queryOf(url), auth.stripQueryParam) : queryOf(url);
  const pathAndQuery = route.upstreamPath(c.get("normalizedPath"), c.get("routeParams")) + query;
  const method = request.method;
  if (route.mirror !== null && mirrorThis(route.mirror, Math.random())) {
    const declaredLength = buffered !== undefined ? String(buffered.byteLength) : request.headers.get("content-length");
    body = startMirror(route.mirror, { method, pathAndQuery, headers, body, declaredLength }, (work) => c.executionCtx.waitUntil(work));
  }
  const deadline = Date.now() + route.timeoutMs;
  const retry = route.retry !== null && body === null && IDEMPOTENT.has(method) ? route.retry : null;
  retry?.budget.recordRequest();

  const health = c.get("clusterHealth");
  const record = c.get("record");
  const tried = new Set<number>();
  let lastFailure: AttemptFailure = "connect-failure";
  for (let attempt = 0; ; attempt++) {
    const now = Date.now();
    // A fresh target first; when every routable one has been tried, a tried one again.
    const targetIndex = pickTarget(cluster.balancer, health, tried, now);
    if (targetIndex === -1) {
      if (attempt > 0) break;
      throw unavailableError((health as ClusterHealth).refusal(now));
    }
    tried.add(targetIndex);
    const target = cluster.targets[targetIndex] as CompiledTarget;

    cluster.balancer.started(targetIndex);
    const lease = health?.begin(targetIndex) ?? null;
    const result = await sendAttempt(cluster, {
      target,
      pathAndQuery,
      method,
      headers,
      body,
      deadline,
      bodyReadInWorker: route.coalesce !== null,
    }).finally(() => cluster.balancer.finished(targetIndex));
    record.target = target.key;
    record.attempts = attempt + 1;
    const elapsedMs = Date.now() - now;
    record.upstreamMs = elapsedMs;
    record.upstreamStatus = result.kind === "response" ? result.response.status : null;
    // Upstream 4xx is the client's doing, and an attempt its client abandoned proves nothing.
    health?.end(
      targetIndex,
      lease,
      // request.signal is read only for clusters that record outcomes.
      health !== null && request.signal.aborted ? null : result.kind === "failure" || result.response.status >= 500 ? "failure" : "success",
      elapsedMs,
    );
    if (bodyExceeded()) {
      if (result.kind === "response") await result.body?.cancel();
      throw new GatewayError("payload-too-large", `The body may be at most ${route.maxBodyBytes} bytes.`);
    }

    const mayRetry = retry !== null && attempt < retry.attempts && Date.now() < deadline && pickable(cluster, health, Date.now());
    if (result.kind === "response") {
      const { response, body: responseBody } = result;
      if (!(mayRetry && retriableStatus(retry.on, response.status) && retry.budget.tryRetry())) {
        return downstreamResponse(response, responseBody, c.get("requestId"));
      }
      await responseBody?.cancel();
    } else {
      lastFailure = result.failure;
      if (!(mayRetry && retry.on.has(result.failure) && retry.budget.tryRetry())) break;
    }
    const pause = Math.min(backoffMs(retry, attempt + 1), deadline - Date.now());
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }

  if (lastFailure === "timeout") throw new GatewayError("upstream-timeout", "The upstream did not answer in time.");
  throw new GatewayError("upstream-unavailable", "The upstream could not be reached.");
});
