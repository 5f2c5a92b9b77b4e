/**
 * Stage 2: normalizes the path once, takes the isolate's config snapshot and finds the route.
 * The normalized path is what later stages forward, so the upstream sees the path that matched.
 * Then it runs the route's own chain of the stages after it (src/stages/chain.ts): the composition
 * root says which chain a route gets.
 */
import type { MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { CompiledRoute, Snapshot } from "../../config/compile.ts";
import { deploymentValidation } from "../../config/deployment.ts";
import { snapshotCache } from "../../config/snapshot-cache.ts";
import { gatewaySettings } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import { isReservedPath, normalizePath, RESERVED_NAMESPACE } from "../../lib/path.ts";
import { requestTargetProblem, urlAuthority } from "../../lib/request-target.ts";
import type { RouteLookup } from "../../lib/route-table.ts";
import { ROUTE_METHODS } from "../../lib/routing/config.ts";
import { asksForWebSocket } from "../../lib/websocket/handshake.ts";
import type { RouteRuntime } from "../../runtime/isolate-runtime.ts";
import type { AppEnv } from "../../variables.ts";
import type { StageChain } from "../chain.ts";

/** Methods the gateway proxies at all: the ones a route may name (no TRACE, no CONNECT). */
const PROXIED_METHODS: ReadonlySet<string> = new Set(ROUTE_METHODS);

const PROXIED_ALLOW = [...PROXIED_METHODS].join(", ");

const PATH_REJECTIONS = {
  "encoded-slash": "The path contains an encoded '/' or '\\' (%2F, %5C), which the gateway does not accept.",
  "invalid-escape": "The path contains a malformed percent-escape.",
  "nul-byte": "The path contains an encoded NUL (%00).",
  backslash: "The path contains a backslash, which the gateway does not accept: upstreams read it as '/'.",
  "dot-segment-parameter": "The path contains a dot segment with parameters ('..;' or '.;'), which some upstreams read as '..' or '.'.",
} as const;

/** RFC 9110 section 5.6.2 token: what a method name is. */
const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) goes to the route that
 * serves the method it asks about, if that route answers preflights itself (a `cors` policy):
 * a browser asks before every call with a credential, whatever methods the route lists.
 */
function preflightLookup(table: Snapshot["table"], headers: Headers, host: string, path: string): RouteLookup<CompiledRoute> | null {
  const asked = headers.get("access-control-request-method");
  if (asked === null || !METHOD_TOKEN.test(asked) || headers.get("origin") === null) return null;
  const lookup = table.lookup(host, asked, path);
  return lookup.kind === "matched" && lookup.payload.policies?.answersPreflights === true ? lookup : null;
}

/** Host without port, lower-case, from the URL's authority. */
function hostOf(authority: string): string {
  const host = authority.startsWith("[") ? authority.slice(0, authority.indexOf("]") + 1) : (authority.split(":")[0] ?? "");
  return host.toLowerCase();
}

/** The raw path of a URL string, without query or fragment. */
function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (end === -1 || (hash !== -1 && hash < end)) end = hash;
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

/**
 * RFC 9110 section 9.3.1: content in a GET (or HEAD) has no meaning, and the runtime's fetch refuses
 * to send one. A declared empty body is no body; anything else is the client's error, refused here
 * rather than failing later as if the upstream could not be reached.
 */
function hasForbiddenBody(request: Request): boolean {
  return request.body !== null && request.headers.get("content-length") !== "0";
}

/** The stages a matched route runs next; without it, the app's next handler. */
export type ChainFor = (route: CompiledRoute) => StageChain;

export function matchRoute(chainFor?: ChainFor): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async function matchRoute(c, next) {
    const method = c.req.method;
    const request = c.req.raw;
    const url = request.url;
    if (!PROXIED_METHODS.has(method)) {
      throw new GatewayError("method-not-allowed", `${method} is not proxied by this gateway.`, { allow: PROXIED_ALLOW });
    }
    const authority = urlAuthority(url);
    const target = requestTargetProblem(url, authority, request.headers.get("host"));
    if (target === "invalid-host")
      throw new GatewayError("invalid-host", "The request needs exactly one Host header holding a host name and an optional port.");
    if (target === "not-origin-form") {
      throw new GatewayError("method-not-allowed", "Only requests for a path are proxied (no asterisk-form or authority-form targets).", {
        allow: PROXIED_ALLOW,
      });
    }
    if ((method === "GET" || method === "HEAD") && hasForbiddenBody(request)) {
      throw new GatewayError("body-not-allowed", `A ${method} request must not have a body.`);
    }

    const normalized = normalizePath(rawPath(url));
    if (!normalized.ok) throw new GatewayError("invalid-path", PATH_REJECTIONS[normalized.reason]);
    // The Hono routes in src/index.ts serve the namespace by its canonical spelling only. Any other
    // spelling that normalizes into it (//__gateway, /./__gateway, /x/../__gateway, other case) lands
    // here and must not reach a catch-all route: it would carry an admin token to an origin.
    if (isReservedPath(normalized.path)) {
      throw new GatewayError(
        "route-not-found",
        `${RESERVED_NAMESPACE} belongs to the gateway and is never proxied; its endpoints answer only at their exact path.`,
      );
    }

    const settings = gatewaySettings(c.env);
    const version = await snapshotCache.serve(
      { kv: c.env.CONFIG, validation: deploymentValidation(c.env), refreshIntervalMs: settings.configRefreshIntervalMs },
      (p) => c.executionCtx.waitUntil(p),
    );
    if (!version) throw new GatewayError("config-unavailable", "The gateway has no valid configuration loaded.", { "retry-after": "5" });
    const snapshot = version.snapshot;
    c.set("observability", snapshot.observability);
    const record = c.get("record");
    record.path = normalized.path;

    const host = hostOf(authority);
    let lookup = snapshot.table.lookup(host, method, normalized.path);
    if (lookup.kind === "method-not-allowed" && method === "OPTIONS")
      lookup = preflightLookup(snapshot.table, request.headers, host, normalized.path) ?? lookup;
    if (lookup.kind === "not-found") throw new GatewayError("route-not-found");
    if (lookup.kind === "method-not-allowed") {
      throw new GatewayError("method-not-allowed", `${method} is not allowed on this route.`, { allow: lookup.allow.join(", ") });
    }

    const route = lookup.payload;
    const runtime = version.routes[route.index] as RouteRuntime;
    record.routeId = route.id;
    record.cluster = route.cluster.name;
    c.set("route", route);
    c.set("routeRuntime", runtime);
    c.set("cluster", route.cluster);
    c.set("clusterRuntime", runtime.cluster);
    c.set("routeParams", lookup.params);
    c.set("normalizedPath", normalized.path);
    c.set("host", host);
    c.set("authority", authority);
    // Upgrade is hop-by-hop, so without this the handshake would reach the target as a plain GET and
    // its answer would fail the client's handshake with no word why. One header lookup, GETs only.
    if (route.websocket === null && method === "GET" && asksForWebSocket(method, request.headers.get("upgrade"))) {
      throw new GatewayError("websocket-not-enabled", "This route does not accept WebSocket upgrades.");
    }
    if (chainFor === undefined) await next();
    else await chainFor(route)(c, next);
  });
}
