/**
 * Compiles a validated config into an immutable snapshot: the route table, the clusters and
 * per-route helpers, so a request does no config work beyond one lookup. Each feature compiles its
 * own block (src/lib/<feature>/config.ts); this file composes them into routes. The snapshot is
 * plain data: it creates no balancer, budget, limiter, cache or key set, and nothing writes to it
 * after compile. The isolate's mutable state lives in the runtime (src/runtime/), handed over by
 * key when a version is installed.
 */
import { type CompiledAuth, type CompiledJwtProvider, compileAuth, compileJwtProvider } from "../lib/auth/config.ts";
import { type CompiledCache, compileCache } from "../lib/cache/config.ts";
import { type CompiledCluster, compileCluster } from "../lib/cluster/config.ts";
import { type CompiledCoalesce, compileCoalesce } from "../lib/coalesce/config.ts";
import { type CompiledIdempotency, compileIdempotency } from "../lib/idempotency/config.ts";
import { type CompiledMirror, compileMirror } from "../lib/mirror/config.ts";
import { type CompiledObservability, compileObservability } from "../lib/observability/config.ts";
import { type RouteMetrics, routeMetrics } from "../lib/observability/route-metrics.ts";
import { type CompiledRoutePolicies, compilePolicies, compileRoutePolicies } from "../lib/policies/config.ts";
import type { CustomPolicyModules } from "../lib/policies/custom.ts";
import type { CompiledPolicy } from "../lib/policies/types.ts";
import { type CompiledRateLimit, compileRateLimit } from "../lib/rate-limit/config.ts";
import { rateLimitPolicyField } from "../lib/rate-limit/fields.ts";
import { type CompiledRetry, compileRetry } from "../lib/retry/config.ts";
import { RouteTable } from "../lib/route-table.ts";
import { compileRewrite, type UpstreamPath } from "../lib/routing/config.ts";
import { type CompiledSplit, compileSplit } from "../lib/split/config.ts";
import { type CompiledWebSocket, compileWebSocket } from "../lib/websocket/config.ts";
import type { GatewayConfig, RouteConfig } from "./schema.ts";

export interface CompiledRoute {
  id: string;
  /** Position in the config's route list: where the installed version keeps this route's runtime handles. */
  index: number;
  cluster: CompiledCluster;
  timeoutMs: number;
  retry: CompiledRetry | null;
  allowHeaders: ReadonlySet<string> | null;
  maxBodyBytes: number | null;
  /** Maps the normalized request path (and route params) to the path sent upstream. */
  upstreamPath: UpstreamPath;
  auth: CompiledAuth | null;
  rateLimits: readonly CompiledRateLimit[];
  /** The RateLimit-Policy value for the enforced policies; null when none is enforced. */
  rateLimitPolicyField: string | null;
  coalesce: CompiledCoalesce | null;
  /** The shared response cache; null when the route does not cache. */
  cache: CompiledCache | null;
  /** The route's request counter and histogram keys (lib/observability/route-metrics.ts). */
  metrics: RouteMetrics;
  split: CompiledSplit | null;
  mirror: CompiledMirror | null;
  idempotency: CompiledIdempotency | null;
  /** The route's policy chain; null when it runs none (then the policy stages cost one check). */
  policies: CompiledRoutePolicies | null;
  /** WebSocket upgrades and their limits; null when the route refuses upgrades. */
  websocket: CompiledWebSocket | null;
}

export interface Snapshot {
  version: string;
  /** Epoch ms at which this isolate compiled it. */
  compiledAt: number;
  routeCount: number;
  table: RouteTable<CompiledRoute>;
  /** Every route in config order (`CompiledRoute.index`). */
  routes: readonly CompiledRoute[];
  clusters: ReadonlyMap<string, CompiledCluster>;
  observability: CompiledObservability;
}

/** Target URLs of each cluster a route's requests may reach: its own, then its split's. */
function reachableTargets(route: RouteConfig, config: GatewayConfig): string[][] {
  const clusterNames = [route.cluster, ...(route.split?.to.map((side) => side.cluster) ?? [])];
  return clusterNames.map((name) => config.clusters[name]?.targets.map((target) => target.url) ?? []);
}

function compileRoute(
  route: RouteConfig,
  index: number,
  config: GatewayConfig,
  clusters: ReadonlyMap<string, CompiledCluster>,
  providers: ReadonlyMap<string, CompiledJwtProvider>,
  policies: ReadonlyMap<string, CompiledPolicy>,
): CompiledRoute {
  const cluster = clusters.get(route.cluster);
  if (!cluster) throw new Error(`route ${route.id} names unknown cluster ${route.cluster}`);
  const enforced = route.rateLimits.filter((policy) => !policy.shadow);
  const auth = route.auth ? compileAuth(route.auth, providers) : null;
  return {
    id: route.id,
    index,
    cluster,
    timeoutMs: route.timeoutMs,
    retry: compileRetry(route.retry),
    allowHeaders: route.requestHeaders ? new Set(route.requestHeaders.allow) : null,
    maxBodyBytes: route.maxBodyBytes ?? null,
    upstreamPath: compileRewrite(route.match.path, route.rewrite),
    auth,
    rateLimits: route.rateLimits.map((policy) => compileRateLimit(route.id, policy)),
    rateLimitPolicyField: enforced.length > 0 ? rateLimitPolicyField(enforced) : null,
    coalesce: route.coalesce
      ? compileCoalesce(route.coalesce, auth, { routeId: route.id, route, targets: reachableTargets(route, config) })
      : null,
    cache: route.cache ? compileCache(route.id, route.cache, auth, reachableTargets(route, config)) : null,
    metrics: routeMetrics(route.id, config.observability.metrics.consumers ?? null),
    split: route.split ? compileSplit(route.id, route.split, cluster, clusters) : null,
    mirror: route.mirror ? compileMirror(route.id, route.mirror, clusters) : null,
    idempotency: route.idempotency ? compileIdempotency(route.id, route.idempotency) : null,
    policies: compileRoutePolicies(route.policies, config.defaultPolicies, policies),
    websocket: route.websocket ? compileWebSocket(route.websocket) : null,
  };
}

/**
 * Compiles a validated config. Throws only on a bug: validation has already ruled out bad input.
 * `customPolicies` are the user policy modules the deployment bundles (src/policies/registry.ts).
 */
export function compileConfig(
  config: GatewayConfig,
  version: string,
  now: () => number = Date.now,
  customPolicies: CustomPolicyModules = new Map(),
): Snapshot {
  const clusters = new Map<string, CompiledCluster>();
  for (const [name, cluster] of Object.entries(config.clusters)) clusters.set(name, compileCluster(name, cluster));
  const providers = new Map<string, CompiledJwtProvider>();
  for (const [name, provider] of Object.entries(config.jwtProviders)) providers.set(name, compileJwtProvider(name, provider));

  const policies = compilePolicies(config.policies, customPolicies);
  const routes = config.routes.map((route, index) => compileRoute(route, index, config, clusters, providers, policies));
  const entries = config.routes.map((route, index) => ({
    path: route.match.path,
    methods: route.match.methods ? new Set<string>(route.match.methods) : null,
    hosts: route.match.hosts ?? null,
    payload: routes[index] as CompiledRoute,
  }));
  return {
    version,
    compiledAt: now(),
    routeCount: routes.length,
    table: new RouteTable(entries),
    routes,
    clusters,
    observability: compileObservability(config.observability),
  };
}
