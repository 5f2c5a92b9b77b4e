/**
 * Compiles a validated config into an immutable snapshot: the route table, the clusters and
 * per-route helpers, so a request does no config work beyond one lookup. The snapshot is plain
 * data: it creates no balancer, budget, limiter, cache or key set, and nothing writes to it after
 * compile. The isolate's mutable state lives in the runtime (src/runtime/), handed over by key
 * when a version is installed.
 */
import type { BreakerSettings } from "../lib/breaker/state.ts";
import { credentialHeaders } from "../lib/coalesce/key.ts";
import type { TokenSource } from "../lib/credentials.ts";
import { foldedName } from "../lib/headers.ts";
import type { Identity } from "../lib/identity.ts";
import { metricKey } from "../lib/metrics.ts";
import { wildcardBase } from "../lib/path.ts";
import type { LimitSpec } from "../lib/rate-limit/algorithms.ts";
import { rateLimitPolicyField } from "../lib/rate-limit/fields.ts";
import { type KeyPart, parseKeyPart } from "../lib/rate-limit/key.ts";
import { defaultLeaseSize } from "../lib/rate-limit/lease.ts";
import type { RetryBudgetPolicy } from "../lib/retry-budget.ts";
import { type RouteParams, RouteTable } from "../lib/route-table.ts";
import { parseStickyKey, type StickyKey, sideBounds } from "../lib/split.ts";
import type { JwksSettings, KeyEntry } from "../services/jwks/key-set.ts";
import type {
  BreakerConfig,
  ClusterConfig,
  CoalesceConfig,
  GatewayConfig,
  IdempotencyConfig,
  JwtProviderConfig,
  MirrorConfig,
  RateLimitPolicyConfig,
  RetryOn,
  RouteAuthConfig,
  RouteConfig,
  SplitConfig,
} from "./schema.ts";

export interface CompiledTarget {
  /** scheme://host[:port], as URL.origin gives it. */
  origin: string;
  /** The target URL's own path without a trailing slash ("" for none); prefixed to every request. */
  basePath: string;
  /** origin + basePath: the target's name in the breaker, stable across config versions. */
  key: string;
}

/** A cluster's breaker knobs in the units the code uses. */
export interface CompiledBreaker extends BreakerSettings {
  reportIntervalMs: number;
  reportEveryRequests: number;
  objectTimeoutMs: number;
}

export interface CompiledCluster {
  name: string;
  targets: readonly CompiledTarget[];
  /** How the runtime's balancer picks among `targets`. */
  loadBalancing: ClusterConfig["loadBalancing"];
  /** Each target's weight, by position in `targets`. */
  weights: readonly number[];
  connectTimeoutMs: number;
  responseTimeoutMs: number | null;
  breaker: CompiledBreaker | null;
  maxInFlight: number | null;
  maxInFlightPerTarget: number | null;
}

export interface CompiledRetry {
  attempts: number;
  on: ReadonlySet<RetryOn>;
  /** The route's retry budget settings; the budget itself is the runtime's, one per route and settings. */
  budget: RetryBudgetPolicy;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** A token that passed verification, remembered until its exp (never longer). */
export interface VerifiedToken {
  /** Built once at verification: a cache hit hands it on as it is. */
  identity: Identity;
  /** The key that verified it: the cached result is dropped once the key is no longer published. */
  key: KeyEntry;
}

export interface CompiledJwtProvider {
  name: string;
  /** Where the keys come from: the runtime keeps one key set per URI. */
  jwksUri: string;
  jwks: JwksSettings;
  issuer: string[];
  audience: string[];
  algorithms: string[];
  /** Always includes "exp". */
  requiredClaims: string[];
  clockToleranceSec: number;
  typ: string | undefined;
  maxTokenBytes: number;
  /** Entries of the runtime's verified-token cache (0: no cache). */
  tokenCacheSize: number;
}

export interface CompiledAuth {
  jwt: CompiledJwtProvider | null;
  tokenSource: TokenSource;
  apiKey: { header: string; cacheTtlMs: number } | null;
  scopes: readonly string[];
  claimHeaders: ReadonlyArray<readonly [claim: string, header: string]>;
  /** Request headers never forwarded, folded (`_` as `-`): claim targets always (no forging), credential carriers unless forwarded. */
  stripHeaders: ReadonlySet<string>;
  stripCookie: string | null;
  stripQueryParam: string | null;
}

export interface CompiledRateLimit {
  id: string;
  spec: LimitSpec;
  keyParts: readonly KeyPart[];
  backend: "durable-object" | "upstash";
  mode: "exact" | "local-first";
  leaseSize: number;
  timeoutMs: number;
  onFailure: "open" | "closed";
  shadow: boolean;
  /** The counter's name in the backend, before ":" and the key. */
  prefix: string;
  /** Counter keys, rendered once. */
  metrics: Record<"allowed" | "denied" | "shadowDenied" | "failOpen" | "failClosed", string>;
}

/** Buckets of the followers-per-call histogram (Prometheus style: cumulative, `le` = at most). */
export const FOLLOWER_BUCKETS = [0, 1, 4, 16, 64, 256, 1024] as const;

export interface CompiledCoalesce {
  varyHeaders: readonly string[];
  public: boolean;
  /** Request headers whose values (hashed) are part of the key unless the route is public. */
  credentialHeaders: readonly string[];
  maxResponseBytes: number;
  passTtlMs: number;
  /** Followers one call may carry. */
  maxWaiters: number;
  /**
   * The identity of the runtime's flight table and pass list for this route: its id, its whole
   * config and its clusters' targets. A publish that leaves all of them as they were keeps the
   * calls in flight and the pass marks; any change starts both afresh, so a request never follows
   * a call made under other rules.
   */
  stateKey: string;
  /** Counter keys, rendered once. */
  metrics: {
    /** What each request did: led a call, followed one, went alone (cap reached), skipped (pass mark, or not a read). */
    role: Record<"leader" | "follower" | "alone" | "pass" | "bypass", string>;
    /** How each led call ended for its followers. */
    call: Record<"shared" | "unshareable" | "tooLarge" | "failed" | "alone", string>;
    followerTimeouts: string;
    varyMismatches: string;
    /** Followers per call, as a histogram: waiters per upstream call = 1 + sum / count. */
    followers: { buckets: ReadonlyArray<readonly [le: number, key: string]>; inf: string; sum: string; count: string };
    /** Bytes held in shared answers being buffered now, and the most at once. */
    bufferedBytes: string;
    bufferedBytesPeak: string;
  };
}

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
  upstreamPath: (path: string, params: RouteParams) => string;
  auth: CompiledAuth | null;
  rateLimits: readonly CompiledRateLimit[];
  /** The RateLimit-Policy value for the enforced policies; null when none is enforced. */
  rateLimitPolicyField: string | null;
  coalesce: CompiledCoalesce | null;
  /** `http_responses_total{route,class}` keys, by status class (index 1 = 1xx ... 5 = 5xx). */
  responseCounters: readonly string[];
  split: CompiledSplit | null;
  mirror: CompiledMirror | null;
  idempotency: CompiledIdempotency | null;
}

export interface CompiledSplit {
  /** The split's clusters in bucket order; the route's own cluster last (it takes the rest). */
  sides: readonly CompiledCluster[];
  /** Upper bucket bound of each side (see lib/split.ts). */
  bounds: readonly number[];
  sticky: StickyKey | null;
  override: { header: string | null; cookie: string | null } | null;
  /** `split_requests_total{route,cluster,how}` keys by side: how = sticky, random or override. */
  metrics: ReadonlyArray<Record<"sticky" | "random" | "override", string>>;
}

export interface CompiledMirror {
  cluster: CompiledCluster;
  /** Share of requests copied, in basis points of 10,000. */
  basisPoints: number;
  maxBodyBytes: number;
  timeoutMs: number;
  metrics: Record<"sent" | "failed" | "skippedBody", string>;
}

export interface CompiledIdempotency {
  ttlMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  required: boolean;
  metrics: Record<"first" | "replayed" | "conflict" | "mismatch" | "released", string>;
}

/** The config's observability block in the units the code uses. */
export interface CompiledObservability {
  accessLog: { sampleRate: number; errors: boolean };
  serverTiming: boolean;
}

/** Response counter keys by status class for `route` ("-": requests no route matched). */
export function responseCounterKeys(route: string): readonly string[] {
  return [0, 1, 2, 3, 4, 5].map((n) => metricKey("http_responses_total", { route, class: `${n}xx` }));
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

function compileBreaker(breaker: BreakerConfig): CompiledBreaker {
  return {
    failureWeight: breaker.failureWeight,
    latencyWeight: breaker.latencyWeight,
    threshold: breaker.threshold,
    latencyBaselineMs: breaker.latencyBaselineMs ?? null,
    latencyFloorMs: breaker.latencyFloorMs,
    maxLatencyRatio: breaker.maxLatencyRatio,
    halfLifeMs: breaker.halfLifeSec * 1000,
    minRequests: breaker.minRequests,
    baseEjectionMs: breaker.baseEjectionSec * 1000,
    maxEjectionMs: breaker.maxEjectionSec * 1000,
    ejectionJitter: breaker.ejectionJitter,
    maxEjectionPercent: breaker.maxEjectionPercent,
    probes: breaker.probes,
    probeSuccesses: breaker.probeSuccesses,
    reportIntervalMs: breaker.reportIntervalMs,
    reportEveryRequests: breaker.reportEveryRequests,
    objectTimeoutMs: breaker.objectTimeoutMs,
  };
}

function compileCluster(name: string, cluster: ClusterConfig): CompiledCluster {
  const weights = cluster.targets.map((t) => t.weight);
  return {
    name,
    targets: cluster.targets.map((t) => {
      const url = new URL(t.url);
      const basePath = url.pathname.replace(/\/+$/, "");
      return { origin: url.origin, basePath, key: url.origin + basePath };
    }),
    loadBalancing: cluster.loadBalancing,
    weights,
    connectTimeoutMs: cluster.connectTimeoutMs,
    responseTimeoutMs: cluster.responseTimeoutMs ?? null,
    breaker: cluster.breaker ? compileBreaker(cluster.breaker) : null,
    maxInFlight: cluster.maxInFlight ?? null,
    maxInFlightPerTarget: cluster.maxInFlightPerTarget ?? null,
  };
}

/** The part of `path` after a wildcard route's fixed prefix, without its leading slash. */
function wildcardTail(path: string, base: string): string {
  return path.length > base.length + 1 ? path.slice(base.length + 1) : "";
}

function compileRewrite(route: RouteConfig): CompiledRoute["upstreamPath"] {
  const rewrite = route.rewrite;
  if (!rewrite) return (path) => path;
  if (rewrite.path !== undefined) {
    const template = rewrite.path;
    const routeBase = wildcardBase(route.match.path);
    const templateBase = wildcardBase(template) ?? template;
    const parts = templateBase.split("/");
    return (path, params) => {
      let out = parts.map((segment) => (segment.startsWith(":") ? (params[segment.slice(1)] ?? "") : segment)).join("/");
      if (template.endsWith("/*") && routeBase !== undefined) {
        const tail = wildcardTail(path, routeBase);
        out = `${out}/${tail}`;
      }
      return out === "" ? "/" : out;
    };
  }
  const strip = (rewrite.stripPrefix ?? "").replace(/\/$/, "");
  const prefix = (rewrite.prefix ?? "").replace(/\/$/, "");
  return (path) => {
    const rest = strip !== "" && (path === strip || path.startsWith(`${strip}/`)) ? path.slice(strip.length) : path;
    const out = prefix + rest;
    return out === "" ? "/" : out.startsWith("/") ? out : `/${out}`;
  };
}

function compileJwtProvider(name: string, provider: JwtProviderConfig): CompiledJwtProvider {
  const list = (value: string | string[]) => (typeof value === "string" ? [value] : value);
  return {
    name,
    jwksUri: provider.jwksUri,
    jwks: {
      cacheMaxAgeMs: provider.jwks.cacheMaxAgeSec * 1000,
      cooldownMs: provider.jwks.cooldownSec * 1000,
      maxStaleMs: provider.jwks.maxStaleSec * 1000,
      timeoutMs: provider.jwks.timeoutMs,
    },
    issuer: list(provider.issuer),
    audience: list(provider.audience),
    algorithms: provider.algorithms,
    requiredClaims: [...new Set(["exp", ...provider.requiredClaims])],
    clockToleranceSec: provider.clockToleranceSec,
    typ: provider.typ,
    maxTokenBytes: provider.maxTokenBytes,
    tokenCacheSize: provider.tokenCacheSize,
  };
}

function compileAuth(auth: RouteAuthConfig, providers: ReadonlyMap<string, CompiledJwtProvider>): CompiledAuth {
  const token = auth.token;
  const tokenSource: TokenSource = token?.header
    ? token.header === "authorization"
      ? { kind: "authorization" }
      : { kind: "header", name: token.header }
    : token?.cookie
      ? { kind: "cookie", name: token.cookie }
      : token?.query
        ? { kind: "query", name: token.query }
        : { kind: "authorization" };
  const claimHeaders = Object.entries(auth.claimHeaders);
  // Folded (`_` as `-`): the proxy strips every spelling an origin would read as one of these.
  const strip = new Set(claimHeaders.map(([, header]) => foldedName(header)));
  const jwt = auth.jwt === undefined ? null : (providers.get(auth.jwt) ?? null);
  if (!auth.forwardCredentials) {
    if (jwt && tokenSource.kind === "authorization") strip.add("authorization");
    if (jwt && tokenSource.kind === "header") strip.add(foldedName(tokenSource.name));
    if (auth.apiKey) strip.add(foldedName(auth.apiKey.header));
  }
  return {
    jwt,
    tokenSource,
    apiKey: auth.apiKey ? { header: auth.apiKey.header, cacheTtlMs: auth.apiKey.cacheTtlSec * 1000 } : null,
    scopes: auth.scopes,
    claimHeaders,
    stripHeaders: strip,
    stripCookie: jwt && !auth.forwardCredentials && tokenSource.kind === "cookie" ? tokenSource.name : null,
    stripQueryParam: jwt && !auth.forwardCredentials && tokenSource.kind === "query" ? tokenSource.name : null,
  };
}

function compileRateLimit(routeId: string, policy: RateLimitPolicyConfig): CompiledRateLimit {
  const spec: LimitSpec = {
    algorithm: policy.algorithm,
    limit: policy.limit,
    windowMs: policy.windowSec * 1000,
    refill: policy.refill ?? policy.limit,
  };
  // The counter's name in the backend. The algorithm and window are part of it, so changing either
  // starts new counters instead of reading old state with new rules; the limit is not, so raising it
  // mid-window keeps what was already counted.
  const prefix = `edgegate:rl:${routeId}:${policy.id}:${policy.algorithm}:${spec.windowMs}`;
  const labels = { route: routeId, policy: policy.id };
  const decision = (outcome: string) => metricKey("rate_limit_decisions_total", { ...labels, outcome });
  return {
    id: policy.id,
    spec,
    keyParts: policy.key.map(parseKeyPart),
    backend: policy.backend,
    mode: policy.mode,
    leaseSize: policy.leaseSize ?? defaultLeaseSize(policy.limit),
    timeoutMs: policy.timeoutMs,
    onFailure: policy.onFailure,
    shadow: policy.shadow,
    prefix,
    metrics: {
      allowed: decision("allowed"),
      denied: decision("denied"),
      shadowDenied: decision("shadow_denied"),
      failOpen: decision("fail_open"),
      failClosed: decision("fail_closed"),
    },
  };
}

function compileSplit(
  routeId: string,
  split: SplitConfig,
  primary: CompiledCluster,
  clusters: ReadonlyMap<string, CompiledCluster>,
): CompiledSplit {
  const sides = [...split.to.map((target) => clusters.get(target.cluster) as CompiledCluster), primary];
  return {
    sides,
    bounds: sideBounds(split.to.map((target) => target.percent)),
    sticky: split.sticky ? parseStickyKey(split.sticky) : null,
    override: split.override ? { header: split.override.header ?? null, cookie: split.override.cookie ?? null } : null,
    metrics: sides.map((side) => {
      const key = (how: string) => metricKey("split_requests_total", { route: routeId, cluster: side.name, how });
      return { sticky: key("sticky"), random: key("random"), override: key("override") };
    }),
  };
}

function compileMirror(routeId: string, mirror: MirrorConfig, clusters: ReadonlyMap<string, CompiledCluster>): CompiledMirror {
  const key = (outcome: string) => metricKey("mirror_requests_total", { route: routeId, outcome });
  return {
    cluster: clusters.get(mirror.cluster) as CompiledCluster,
    basisPoints: Math.round(mirror.percent * 100),
    maxBodyBytes: mirror.maxBodyBytes,
    timeoutMs: mirror.timeoutMs,
    metrics: { sent: key("sent"), failed: key("failed"), skippedBody: key("skipped_body") },
  };
}

function compileIdempotency(routeId: string, idempotency: IdempotencyConfig): CompiledIdempotency {
  const key = (outcome: string) => metricKey("idempotency_requests_total", { route: routeId, outcome });
  return {
    ttlMs: idempotency.ttlSec * 1000,
    maxRequestBytes: idempotency.maxRequestBytes,
    maxResponseBytes: idempotency.maxResponseBytes,
    required: idempotency.required,
    metrics: {
      first: key("first"),
      replayed: key("replayed"),
      conflict: key("conflict"),
      mismatch: key("mismatch"),
      released: key("released"),
    },
  };
}

function compileCoalesce(route: RouteConfig, coalesce: CoalesceConfig, auth: CompiledAuth | null, config: GatewayConfig): CompiledCoalesce {
  const routeId = route.id;
  const own: string[] = [];
  if (auth?.apiKey) own.push(auth.apiKey.header);
  if (auth?.tokenSource.kind === "header") own.push(auth.tokenSource.name);
  const key = (name: string, labels: Record<string, string> = {}) => metricKey(name, { route: routeId, ...labels });
  const role = (r: string) => key("coalesce_requests_total", { role: r });
  const call = (o: string) => key("coalesce_calls_total", { outcome: o });
  return {
    varyHeaders: coalesce.varyHeaders,
    public: coalesce.public,
    credentialHeaders: credentialHeaders(own),
    maxResponseBytes: coalesce.maxResponseBytes,
    passTtlMs: coalesce.passTtlMs,
    maxWaiters: coalesce.maxWaiters,
    stateKey: coalesceStateKey(route, config),
    metrics: {
      role: { leader: role("leader"), follower: role("follower"), alone: role("alone"), pass: role("pass"), bypass: role("bypass") },
      call: {
        shared: call("shared"),
        unshareable: call("unshareable"),
        tooLarge: call("too_large"),
        failed: call("failed"),
        alone: call("alone"),
      },
      followerTimeouts: key("coalesce_follower_timeouts_total"),
      varyMismatches: key("coalesce_vary_mismatches_total"),
      followers: {
        buckets: FOLLOWER_BUCKETS.map((le) => [le, key("coalesce_followers_per_call_bucket", { le: String(le) })] as const),
        inf: key("coalesce_followers_per_call_bucket", { le: "+Inf" }),
        sum: key("coalesce_followers_per_call_sum"),
        count: key("coalesce_followers_per_call_count"),
      },
      bufferedBytes: key("coalesce_buffered_bytes"),
      bufferedBytesPeak: key("coalesce_buffered_bytes_peak"),
    },
  };
}

/** The identity of a coalescing route's runtime state: its id, its config, and its clusters' targets. */
function coalesceStateKey(route: RouteConfig, config: GatewayConfig): string {
  const clusterNames = [route.cluster, ...(route.split?.to.map((side) => side.cluster) ?? [])];
  const targets = clusterNames.map((name) => config.clusters[name]?.targets.map((target) => target.url) ?? []);
  return JSON.stringify([route.id, route, targets]);
}

/** Compiles a validated config. Throws only on a bug: validation has already ruled out bad input. */
export function compileConfig(config: GatewayConfig, version: string, now: () => number = Date.now): Snapshot {
  const clusters = new Map<string, CompiledCluster>();
  for (const [name, cluster] of Object.entries(config.clusters)) clusters.set(name, compileCluster(name, cluster));
  const providers = new Map<string, CompiledJwtProvider>();
  for (const [name, provider] of Object.entries(config.jwtProviders)) providers.set(name, compileJwtProvider(name, provider));

  const entries = config.routes.map((route, index) => {
    const cluster = clusters.get(route.cluster);
    if (!cluster) throw new Error(`route ${route.id} names unknown cluster ${route.cluster}`);
    const retry = route.retry;
    const enforced = route.rateLimits.filter((policy) => !policy.shadow);
    const auth = route.auth ? compileAuth(route.auth, providers) : null;
    const compiled: CompiledRoute = {
      id: route.id,
      index,
      cluster,
      timeoutMs: route.timeoutMs,
      retry:
        retry && retry.attempts > 0
          ? {
              attempts: retry.attempts,
              on: new Set(retry.on),
              budget: { ratio: retry.budget.ratio, minPerSecond: retry.budget.minPerSecond },
              backoffBaseMs: retry.backoffMs.base,
              backoffMaxMs: Math.max(retry.backoffMs.base, retry.backoffMs.max),
            }
          : null,
      allowHeaders: route.requestHeaders ? new Set(route.requestHeaders.allow) : null,
      maxBodyBytes: route.maxBodyBytes ?? null,
      upstreamPath: compileRewrite(route),
      auth,
      rateLimits: route.rateLimits.map((policy) => compileRateLimit(route.id, policy)),
      rateLimitPolicyField: enforced.length > 0 ? rateLimitPolicyField(enforced) : null,
      coalesce: route.coalesce ? compileCoalesce(route, route.coalesce, auth, config) : null,
      responseCounters: responseCounterKeys(route.id),
      split: route.split ? compileSplit(route.id, route.split, cluster, clusters) : null,
      mirror: route.mirror ? compileMirror(route.id, route.mirror, clusters) : null,
      idempotency: route.idempotency ? compileIdempotency(route.id, route.idempotency) : null,
    };
    return {
      path: route.match.path,
      methods: route.match.methods ? new Set<string>(route.match.methods) : null,
      hosts: route.match.hosts ?? null,
      payload: compiled,
    };
  });

  const observability: CompiledObservability = {
    accessLog: { sampleRate: config.observability.accessLog.sampleRate, errors: config.observability.accessLog.errors },
    serverTiming: config.observability.serverTiming,
  };
  return {
    version,
    compiledAt: now(),
    routeCount: entries.length,
    table: new RouteTable(entries),
    routes: entries.map((entry) => entry.payload),
    clusters,
    observability,
  };
}
