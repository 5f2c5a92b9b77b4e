/**
 * The Hono environment of the gateway app: its bindings, and the per-request values the stages
 * hand on in pipeline order (what each stage sets, and who reads it).
 */
import type { CompiledRoute } from "./config/compile.ts";
import type { Bindings } from "./env.ts";
import type { CompiledCluster } from "./lib/cluster/config.ts";
import type { HeaderPairs } from "./lib/headers.ts";
import type { Identity } from "./lib/identity.ts";
import type { CompiledObservability } from "./lib/observability/config.ts";
import type { RequestRecord } from "./lib/request-record.ts";
import type { RouteLookup } from "./lib/route-table.ts";
import type { ClusterRuntime, RouteRuntime } from "./runtime/isolate-runtime.ts";
import type { ClusterHealth } from "./services/breaker/cluster-health.ts";

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
  /**
   * Set by the policy stage (late inbound policies): the edits they made to the upstream request,
   * which the proxy and coalescing build the upstream headers with; unset when none.
   */
  policyEdits: { set: HeaderPairs; remove: ReadonlySet<string> } | undefined;
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
