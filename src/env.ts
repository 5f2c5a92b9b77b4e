/**
 * Bindings and variables of the Worker, read and validated once per isolate.
 */

import type { CompiledRoute } from "./config/compile.ts";
import type { ClusterBreaker } from "./durable-objects/cluster-breaker.ts";
import type { ConfigPublisher } from "./durable-objects/config-publisher.ts";
import type { IdempotencyStore } from "./durable-objects/idempotency-store.ts";
import type { RateLimiter } from "./durable-objects/rate-limiter.ts";
import type { CompiledCluster } from "./lib/cluster/config.ts";
import type { ConfigValidationOptions } from "./lib/config/fields.ts";
import type { HeaderPairs } from "./lib/headers.ts";
import type { Identity } from "./lib/identity.ts";
import type { CompiledObservability } from "./lib/observability/config.ts";
import type { RequestRecord } from "./lib/request-record.ts";
import type { RouteLookup } from "./lib/route-table.ts";
import type { ClusterRuntime, RouteRuntime } from "./runtime/isolate-runtime.ts";
import type { ClusterHealth } from "./services/breaker/cluster-health.ts";

export interface Bindings {
  /** KV namespace holding the versioned config and the pointer to the current version. */
  CONFIG: KVNamespace;
  /** "true" accepts loopback/private upstream addresses. Development only. */
  ALLOW_PRIVATE_UPSTREAMS?: string;
  /** How often an isolate checks KV for a new config version, in milliseconds (default 5000). */
  CONFIG_REFRESH_INTERVAL_MS?: string;
  /** Rate-limit counters of policies with backend "durable-object". */
  RATE_LIMITER?: DurableObjectNamespace<RateLimiter>;
  /** Upstream health of clusters with a breaker: one object per cluster. Unbound, each isolate judges alone. */
  BREAKER?: DurableObjectNamespace<ClusterBreaker>;
  /** Secrets: the Upstash Redis REST endpoint and token for policies with backend "upstash". */
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** Secret: the bearer token of /__gateway/admin/*. Unset, the admin surface does not exist (404). */
  ADMIN_TOKEN?: string;
  /** Records of Idempotency-Keys: one object per route, caller and key. */
  IDEMPOTENCY?: DurableObjectNamespace<IdempotencyStore>;
  /** Serializes admin publishes (optimistic concurrency on the config version). */
  CONFIG_PUBLISHER?: DurableObjectNamespace<ConfigPublisher>;
  /** Workers Analytics Engine: one data point per request. Unbound, points go to an in-memory ring. */
  METRICS?: AnalyticsEngineDataset;
}

/** Per-request values the stages hand on, in pipeline order. */
export interface Variables {
  /** What the stages decided, for the access log, metrics and Server-Timing. */
  record: RequestRecord;
  /** The serving snapshot's observability settings; unset until a snapshot is loaded. */
  observability: CompiledObservability | undefined;
  requestId: string;
  traceparent: string;
  tracestate: string | null;
  route: CompiledRoute;
  /** The route's runtime handles in the version the request is served with (balancers, limiters, caches). */
  routeRuntime: RouteRuntime;
  routeParams: Extract<RouteLookup<CompiledRoute>, { kind: "matched" }>["params"];
  /** The request's host, lower-case, without port: what routes match on. */
  host: string;
  /** The Host field as the client sent it (validated: one host and an optional port); X-Forwarded-Host. */
  authority: string;
  /** The normalized request path: matched against routes and, after rewriting, forwarded. */
  normalizedPath: string;
  /** Set by authenticate on routes with auth; unset elsewhere. */
  identity: Identity | undefined;
  /** Headers authenticate adds upstream (forwarded claims); unset when none. */
  identityHeaders: HeaderPairs | undefined;
  /** The cluster this request goes to: the route's, or the side of its split the request fell on. */
  cluster: CompiledCluster;
  /** The runtime of `cluster`: its balancer and health. */
  clusterRuntime: ClusterRuntime;
  /** A request body the gateway read in full (to fingerprint it for idempotency); forwarded instead of the stream. */
  bufferedBody: Uint8Array | undefined;
  /**
   * Set by a stage that reads the upstream's answer in the Worker (a coalescing leader, a first
   * request with an Idempotency-Key) before it passes the request on: the proxy then ends its header
   * deadline once the headers are in, instead of letting it cut the body that stage reads.
   */
  responseReadInWorker: boolean | undefined;
  /**
   * Set by a stage that judges the upstream's answer on its own headers (a coalescing leader): the
   * proxy then hands those headers on as `upstreamHeaders`.
   */
  wantsUpstreamHeaders: boolean | undefined;
  /**
   * Set by the proxy when `wantsUpstreamHeaders` asks: the upstream's answer headers before hop-by-hop
   * removal, so sharing is judged on what the origin said (a Vary or Set-Cookie it named in
   * Connection is removed from the answer, but still says the answer is not for everyone).
   */
  upstreamHeaders: Headers | undefined;
  /** Set by the breaker stage: the cluster's health in this isolate; null for clusters without breaker or caps. */
  clusterHealth: ClusterHealth | null;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}

export interface GatewaySettings {
  validation: ConfigValidationOptions;
  configRefreshIntervalMs: number;
}

const DEFAULT_REFRESH_MS = 5_000;

// Keyed by the env object, which the runtime keeps for the isolate's lifetime: parsing it once
// keeps string-to-number work off the hot path.
const settingsCache = new WeakMap<Bindings, GatewaySettings>();

/** The deployment settings derived from the bindings. Malformed values fall back to safe defaults. */
export function gatewaySettings(env: Bindings): GatewaySettings {
  let settings = settingsCache.get(env);
  if (!settings) {
    const interval = Number(env.CONFIG_REFRESH_INTERVAL_MS ?? DEFAULT_REFRESH_MS);
    settings = {
      validation: { allowPrivateUpstreams: env.ALLOW_PRIVATE_UPSTREAMS === "true" },
      configRefreshIntervalMs: Number.isFinite(interval) && interval >= 0 ? interval : DEFAULT_REFRESH_MS,
    };
    settingsCache.set(env, settings);
  }
  return settings;
}
