/**
 * Finds routes without auth that reach, after their rewrite, upstream paths that a route with auth
 * protects on the same upstream: `/api/*` stripping `/api` onto the cluster of a JWT-protected
 * `/orders/*` serves `/api/orders/42` as `/orders/42`, no token asked. Such a config is legal (the
 * upstream may check credentials itself), so these are warnings, not validation issues.
 *
 * Paths are compared as patterns of segments: a literal, a `:param` (any one non-empty segment),
 * and an optional trailing wildcard (any further segments, none included), as Hono's routers match
 * them. Each route's client pattern is mapped through its rewrite to the upstream pattern it can
 * produce, prefixed with each target's base path; an open route and an authenticated one overlap
 * when two such patterns on the same target origin share a path and their methods share a method.
 * An overlap is not reported when the open route never sees those requests: an earlier route
 * whose path, methods and hosts take all of them first. Hosts otherwise do not limit the reach:
 * the upstream is called with the target's host, whichever host the client named.
 *
 * Pure: a validated config in, warnings out. Run at validate and publish time, never per request.
 */
import type { ConfigIssue } from "../lib/config/fields.ts";
import { ROUTE_METHODS } from "../lib/routing/config.ts";
import type { GatewayConfig, RouteConfig } from "./schema.ts";

type Segment = { literal: string } | { param: true };

/** A set of paths: fixed segments, then any number of further segments when `rest` is set. */
export interface PathPattern {
  segments: readonly Segment[];
  rest: boolean;
}

const ANY: Segment = { param: true };

function isLiteral(segment: Segment): segment is { literal: string } {
  return "literal" in segment;
}

function literalSegments(path: string): Segment[] {
  const trimmed = path.replace(/\/$/, "");
  return trimmed === ""
    ? []
    : trimmed
        .slice(1)
        .split("/")
        .map((literal) => ({ literal }));
}

/** A route path pattern (already validated: `/a/:b/*`) as a PathPattern. */
export function parsePattern(pattern: string): PathPattern {
  const rest = pattern.endsWith("/*");
  const body = rest ? pattern.slice(0, -2) : pattern;
  const segments: Segment[] =
    body === ""
      ? []
      : body
          .slice(1)
          .split("/")
          .map((s) => (s.startsWith(":") ? ANY : { literal: s }));
  return { segments, rest };
}

/** Renders a pattern the way a route path is written; a parameter shows as `:param`. */
export function formatPattern(pattern: PathPattern): string {
  const fixed = pattern.segments.map((s) => (isLiteral(s) ? s.literal : ":param")).join("/");
  if (pattern.rest) return `${fixed === "" ? "" : `/${fixed}`}/*`;
  return `/${fixed}`;
}

/** How a route maps its client pattern to an upstream pattern, and back. */
interface RouteMapping {
  client: PathPattern;
  upstream: PathPattern;
  /** The client paths that produce the upstream paths in `upstream` (a subset of it, with the same tail). */
  preimage: (upstream: PathPattern) => PathPattern;
}

/** The upstream side of a route's rewrite, mirroring compileRewrite in compile.ts. */
function routeMapping(route: RouteConfig): RouteMapping {
  const client = parsePattern(route.match.path);
  const rewrite = route.rewrite;
  if (rewrite?.path !== undefined) {
    const template = parsePattern(rewrite.path);
    // The template's `/*` takes the route's wildcard tail; a route wildcard without it is dropped.
    const upstream = { segments: template.segments, rest: template.rest && client.rest };
    return { client, upstream: withRoot(upstream), preimage: () => client };
  }
  const strip = literalSegments(rewrite?.stripPrefix ?? "");
  const prefix = literalSegments(rewrite?.prefix ?? "");
  const kept = client.segments.slice(strip.length);
  const upstream = withRoot({ segments: [...prefix, ...kept], rest: client.rest });
  return {
    client,
    upstream,
    preimage: (overlap) => {
      // The root special case ("" becomes "/") has no segments to map back: all of the client pattern.
      if (kept.length === 0 && prefix.length === 0 && !client.rest) return client;
      return { segments: [...client.segments.slice(0, strip.length), ...overlap.segments.slice(prefix.length)], rest: overlap.rest };
    },
  };
}

/** An empty fixed path without a wildcard is "/": one empty segment, as Hono and the proxy see it. */
function withRoot(pattern: PathPattern): PathPattern {
  return pattern.segments.length === 0 && !pattern.rest ? { segments: [{ literal: "" }], rest: false } : pattern;
}

function meet(a: Segment, b: Segment): Segment | null {
  if (isLiteral(a) && isLiteral(b)) return a.literal === b.literal ? a : null;
  // A parameter never matches an empty segment.
  if (isLiteral(a)) return a.literal === "" ? null : a;
  if (isLiteral(b)) return b.literal === "" ? null : b;
  return ANY;
}

/** The paths both patterns match, as a pattern; null when they share none. No recursion. */
export function intersect(a: PathPattern, b: PathPattern): PathPattern | null {
  const segments: Segment[] = [];
  const shared = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < shared; i++) {
    const both = meet(a.segments[i] as Segment, b.segments[i] as Segment);
    if (both === null) return null;
    segments.push(both);
  }
  if (a.segments.length === b.segments.length) return { segments, rest: a.rest && b.rest };
  const [shorter, longer] = a.segments.length < b.segments.length ? [a, b] : [b, a];
  if (!shorter.rest) return null;
  return { segments: [...segments, ...longer.segments.slice(shared)], rest: longer.rest };
}

/** Whether every path of `inner` matches `outer`. */
export function covers(outer: PathPattern, inner: PathPattern): boolean {
  for (let i = 0; i < inner.segments.length; i++) {
    if (i >= outer.segments.length) return outer.rest;
    const o = outer.segments[i] as Segment;
    const n = inner.segments[i] as Segment;
    if (isLiteral(o)) {
      if (!isLiteral(n) || n.literal !== o.literal) return false;
    } else if (isLiteral(n) && n.literal === "") return false;
  }
  if (outer.segments.length > inner.segments.length) return false;
  return outer.rest || !inner.rest;
}

/** The methods a route serves: every route method when unset, and HEAD wherever GET (as the router does). */
function methodsOf(route: RouteConfig): Set<string> {
  const methods = new Set<string>(route.match.methods ?? ROUTE_METHODS);
  if (methods.has("GET")) methods.add("HEAD");
  return methods;
}

/** Whether requests for `route`'s hosts reach `earlier` in the router's host group (src/lib/route-table.ts). */
function hostsCover(earlier: RouteConfig, route: RouteConfig): boolean {
  if (earlier.match.hosts === undefined) return true;
  if (route.match.hosts === undefined) return false;
  const hosts = new Set(earlier.match.hosts);
  return route.match.hosts.every((host) => hosts.has(host));
}

/** Clusters a route's requests are sent to: its own, its split shares, its mirror (whose writes happen too). */
function reachedClusters(route: RouteConfig, withMirror: boolean): string[] {
  const names = [route.cluster, ...(route.split?.to.map((share) => share.cluster) ?? [])];
  if (withMirror && route.mirror) names.push(route.mirror.cluster);
  return [...new Set(names)];
}

interface Target {
  origin: string;
  base: Segment[];
}

function targetsOf(config: GatewayConfig, cluster: string): Target[] {
  const definition = config.clusters[cluster];
  if (definition === undefined) return [];
  return definition.targets.map((target) => {
    const url = new URL(target.url);
    return { origin: url.origin, base: literalSegments(url.pathname.replace(/\/+$/, "")) };
  });
}

/** One route's upstream reach on one target: the full upstream pattern, base path included. */
interface Reach {
  index: number;
  route: RouteConfig;
  mapping: RouteMapping;
  cluster: string;
  target: Target;
  full: PathPattern;
}

function reachesOf(config: GatewayConfig, index: number, route: RouteConfig, withMirror: boolean): Reach[] {
  const mapping = routeMapping(route);
  const out: Reach[] = [];
  for (const cluster of reachedClusters(route, withMirror)) {
    for (const target of targetsOf(config, cluster)) {
      const full = { segments: [...target.base, ...mapping.upstream.segments], rest: mapping.upstream.rest };
      out.push({ index, route, mapping, cluster, target, full });
    }
  }
  return out;
}

/** The first segment of a pattern as a bucket key: its literal, or "" + "*" for anything else. */
function bucketKey(pattern: PathPattern, at: number): string {
  const segment = pattern.segments[at];
  return segment !== undefined && isLiteral(segment) ? `=${segment.literal}` : "*";
}

/**
 * Protected reaches by origin and by the first segment after the base path, so an open route is
 * compared only with protected routes that could share its paths (configs run to 20,000 routes).
 */
class ProtectedIndex {
  /** origin -> base path length -> first segment after the base ("=literal" or "*") -> reaches. */
  readonly #byOrigin = new Map<string, Map<number, Map<string, Reach[]>>>();

  add(reach: Reach): void {
    const depth = reach.target.base.length;
    let depths = this.#byOrigin.get(reach.target.origin);
    if (!depths) {
      depths = new Map();
      this.#byOrigin.set(reach.target.origin, depths);
    }
    let buckets = depths.get(depth);
    if (!buckets) {
      buckets = new Map();
      depths.set(depth, buckets);
    }
    const key = bucketKey(reach.full, depth);
    const list = buckets.get(key);
    if (list) list.push(reach);
    else buckets.set(key, [reach]);
  }

  candidates(open: Reach): Reach[] {
    const out: Reach[] = [];
    for (const [depth, buckets] of this.#byOrigin.get(open.target.origin) ?? []) {
      const mine = bucketKey(open.full, depth);
      if (mine === "*") for (const list of buckets.values()) out.push(...list);
      else out.push(...(buckets.get(mine) ?? []), ...(buckets.get("*") ?? []));
    }
    return out;
  }
}

function describeMethods(methods: ReadonlySet<string>): string {
  return methods.size === new Set([...ROUTE_METHODS]).size ? "" : ` (${[...methods].sort().join(", ")})`;
}

/**
 * Warnings for every route without auth that can reach an upstream path a route with auth protects
 * on the same target, after both rewrites; each names the open route's field path.
 */
export function exposureWarnings(config: GatewayConfig): ConfigIssue[] {
  const index = new ProtectedIndex();
  config.routes.forEach((route, i) => {
    if (route.auth !== undefined) for (const reach of reachesOf(config, i, route, false)) index.add(reach);
  });
  const patterns = config.routes.map((route) => parsePattern(route.match.path));
  const methodSets = config.routes.map(methodsOf);
  // Routes that could shadow a client pattern, by their literal first segment ("*" for the rest):
  // only those can take every path of a pattern that starts with that literal.
  const byFirstSegment = new Map<string, number[]>();
  patterns.forEach((pattern, e) => {
    const key = bucketKey(pattern, 0);
    const list = byFirstSegment.get(key);
    if (list) list.push(e);
    else byFirstSegment.set(key, [e]);
  });
  const shadowCandidates = (clientPaths: PathPattern): number[] => {
    const key = bucketKey(clientPaths, 0);
    const dynamic = byFirstSegment.get("*") ?? [];
    return key === "*" ? dynamic : [...(byFirstSegment.get(key) ?? []), ...dynamic];
  };
  const warnings: ConfigIssue[] = [];
  config.routes.forEach((route, u) => {
    if (route.auth !== undefined) return;
    const openMethods = methodSets[u] as Set<string>;
    const reported = new Set<number>();
    for (const open of reachesOf(config, u, route, true)) {
      for (const guarded of index.candidates(open)) {
        if (reported.has(guarded.index)) continue;
        const methods = new Set([...(methodSets[guarded.index] as Set<string>)].filter((m) => openMethods.has(m)));
        if (methods.size === 0) continue;
        const overlap = intersect(open.full, guarded.full);
        if (overlap === null) continue;
        const upstream = { segments: overlap.segments.slice(open.target.base.length), rest: overlap.rest };
        const clientPaths = open.mapping.preimage(upstream);
        let shadowed = false;
        for (const e of shadowCandidates(clientPaths)) {
          if (e >= u) continue;
          const earlier = config.routes[e] as RouteConfig;
          const earlierMethods = methodSets[e] as Set<string>;
          shadowed =
            covers(patterns[e] as PathPattern, clientPaths) &&
            [...methods].every((m) => earlierMethods.has(m)) &&
            hostsCover(earlier, route);
          if (shadowed) break;
        }
        if (shadowed) continue;
        reported.add(guarded.index);
        const field = route.rewrite !== undefined ? `routes[${u}].rewrite` : `routes[${u}].match.path`;
        warnings.push({
          path: field,
          message:
            `has no auth, but ${formatPattern(clientPaths)}${describeMethods(methods)} reaches ${formatPattern(overlap)} on ` +
            `${open.target.origin} (cluster '${open.cluster}'), which routes[${guarded.index}] ('${guarded.route.id}') protects with auth`,
        });
      }
    }
  });
  return warnings;
}
