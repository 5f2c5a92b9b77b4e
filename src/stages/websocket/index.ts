/**
 * WebSocket upgrades, on routes with a `websocket` block only (src/index.ts): a handshake has been
 * through everything before it (IP filters, authentication, rate limits, the breaker's admission)
 * and is sent here to one routable target of the request's cluster, with the headers any request
 * of the route carries upstream plus the handshake's own. A 101 joins the two sockets and answers
 * the client with its end; anything else is a 502 `websocket-refused` that shows nothing of the
 * target's answer. A handshake is one attempt: never retried, shared, replayed, cached or mirrored.
 * Any other request of the route goes on to the proxy.
 */
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../../errors.ts";
import { fetcherBinding } from "../../lib/bindings.ts";
import type { CompiledTarget } from "../../lib/cluster/config.ts";
import { withoutQueryParam } from "../../lib/credentials.ts";
import { isHopByHop } from "../../lib/headers.ts";
import { log } from "../../lib/log.ts";
import { upstreamHeadersFor } from "../../lib/upstream-headers.ts";
import type { CompiledWebSocket } from "../../lib/websocket/config.ts";
import { asksForWebSocket, PER_CONNECTION_FIELDS } from "../../lib/websocket/handshake.ts";
import { type ClusterHealth, unavailableError } from "../../services/breaker/cluster-health.ts";
import type { AppEnv } from "../../variables.ts";
import { joinSockets } from "./relay.ts";

function queryOf(url: string): string {
  const q = url.indexOf("?");
  if (q === -1) return "";
  const hash = url.indexOf("#", q);
  return hash === -1 ? url.slice(q) : url.slice(q, hash);
}

/** Fields of the target's 101 the client gets: all but hop-by-hop and those of the target's own connection. */
function switchingHeaders(upstream: Headers, requestId: string): Headers {
  const out = new Headers();
  for (const [name, value] of upstream) {
    if (isHopByHop(name) || PER_CONNECTION_FIELDS.includes(name) || name === "content-length") continue;
    out.append(name, value);
  }
  out.set("x-request-id", requestId);
  return out;
}

function refused(detail: string): GatewayError {
  return new GatewayError("websocket-refused", detail);
}

export const websocket = createMiddleware<AppEnv>(async function websocket(c, next) {
  const request = c.req.raw;
  if (!asksForWebSocket(request.method, request.headers.get("upgrade"))) return next();

  const route = c.get("route");
  const limits = route.websocket as CompiledWebSocket;
  const cluster = c.get("cluster");
  const { balancer } = c.get("clusterRuntime");
  const health = c.get("clusterHealth");
  const requestId = c.get("requestId");
  const record = c.get("record");

  // The binding that presents the cluster's client certificate, where it has one.
  let fetcher: Fetcher | null = null;
  if (cluster.mtlsBinding !== null) {
    fetcher = fetcherBinding(c.env, cluster.mtlsBinding);
    if (fetcher === null) {
      log({
        level: "error",
        event: "proxy.certificate_missing",
        cluster: cluster.name,
        binding: cluster.mtlsBinding,
        sending: "websocket",
        requestId,
      });
      throw new GatewayError("internal-error", "The gateway is not set up to reach this route's upstream.");
    }
  }

  const headers = upstreamHeadersFor(request, {
    route,
    authority: c.get("authority"),
    identityHeaders: c.get("identityHeaders"),
    policyEdits: c.get("policyEdits"),
    requestId,
    traceparent: c.get("traceparent"),
    tracestate: c.get("tracestate"),
  });
  // Upgrade is hop-by-hop and was dropped with the rest: the gateway asks for its own connection's.
  for (const name of PER_CONNECTION_FIELDS) headers.delete(name);
  headers.set("upgrade", "websocket");

  const now = Date.now();
  const targetIndex = health === null ? balancer.pick() : balancer.pick((i) => !health.routable(i, now));
  if (targetIndex === -1) throw unavailableError((health as ClusterHealth).refusal(now));
  const target = cluster.targets[targetIndex] as CompiledTarget;
  const auth = route.auth;
  const query = auth?.stripQueryParam ? withoutQueryParam(queryOf(request.url), auth.stripQueryParam) : queryOf(request.url);
  const url = target.origin + target.basePath + route.upstreamPath(c.get("normalizedPath"), c.get("routeParams")) + query;
  const init: RequestInit = {
    method: "GET",
    headers,
    redirect: "manual",
    signal: AbortSignal.timeout(Math.max(1, Math.min(cluster.connectTimeoutMs, route.timeoutMs))),
  };

  // In flight from the balancer's and the breaker's view until the handshake is answered: a
  // connection that then lasts hours is not an attempt waiting on the target.
  balancer.started(targetIndex);
  const lease = health?.begin(targetIndex) ?? null;
  let response: Response | null = null;
  let failure: "timeout" | "connect-failure" | null = null;
  try {
    response = await (fetcher === null ? fetch(url, init) : fetcher.fetch(url, init));
  } catch {
    failure = (init.signal as AbortSignal).aborted ? "timeout" : "connect-failure";
  } finally {
    balancer.finished(targetIndex);
  }
  const end = Date.now();
  record.target = target.key;
  record.attempts = 1;
  record.upstreamMs = end - now;
  record.upstreamStatus = response?.status ?? null;
  // Upstream evidence: no answer, or a 5xx, is the target failing; any other refusal (a 4xx, a 200
  // from a server that does not speak WebSocket there) is a target that is up, just not for this.
  health?.end(targetIndex, lease, response === null || response.status >= 500 ? "failure" : "success", end - now);

  const upstream = response?.webSocket ?? null;
  if (response === null || response.status !== 101 || upstream === null) {
    record.websocket = "refused";
    // The target's answer is not relayed: its body and fields are its own business.
    await response?.body?.cancel().catch(() => {});
    throw refused(
      failure === "timeout"
        ? "The upstream did not answer the WebSocket handshake in time."
        : failure === "connect-failure"
          ? "The upstream could not be reached for the WebSocket handshake."
          : "The upstream did not accept the WebSocket upgrade.",
    );
  }

  record.websocket = "upgraded";
  const [clientEnd, gatewayEnd] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  const routeId = route.id;
  joinSockets(gatewayEnd, upstream, limits, (summary) => {
    log({ level: "info", event: "websocket.closed", requestId, route: routeId, cluster: cluster.name, target: target.key, ...summary });
  });
  return new Response(null, { status: 101, webSocket: clientEnd, headers: switchingHeaders(response.headers, requestId) });
});
