/**
 * edgegate's composition root: the order of the pipeline stages, and nothing else.
 * id -> route -> policies (early) -> identity -> split -> limits -> policies (late) -> idempotency -> cache -> coalesce -> health -> proxy. Errors from any stage become problem+json in one place.
 * The policy stages are in a route's chain only where it has policies for them.
 */
import { type ErrorHandler, Hono } from "hono";
import { answerError, GatewayError } from "./errors.ts";
import { admin } from "./routes/admin/index.ts";
import { health } from "./routes/health.ts";
import { authenticate } from "./stages/authenticate/index.ts";
import { breaker } from "./stages/breaker/index.ts";
import { cache } from "./stages/cache/index.ts";
import { routeChains, type StageEntry } from "./stages/chain.ts";
import { coalesce } from "./stages/coalesce/index.ts";
import { idempotency } from "./stages/idempotency/index.ts";
import { matchRoute } from "./stages/match-route/index.ts";
import { observe } from "./stages/observe/index.ts";
import { latePolicies, policies } from "./stages/policies/index.ts";
import { proxy } from "./stages/proxy/index.ts";
import { rateLimit } from "./stages/rate-limit/index.ts";
import { requestId } from "./stages/request-id/index.ts";
import { split } from "./stages/split/index.ts";
import { websocket } from "./stages/websocket/index.ts";
import type { AppEnv } from "./variables.ts";

const app = new Hono<AppEnv>();
const onError: ErrorHandler<AppEnv> = (error, c) => answerError(error, c.get("requestId"));

/**
 * Only on routes that cache: a stored answer is served before anything is merged, checked or sent.
 * A background refresh runs the stages after it on their own (`afterCache`, below).
 */
const CACHE: StageEntry = [cache((route) => afterCache(route)), (route) => route.cache !== null];

/**
 * The stages after the route, in order; an optional one (a pair) only in the chains of routes its
 * test holds for. Coalescing comes before health: a follower makes no upstream call, so it must not
 * take an in-flight slot or count as an outcome. The route's policies: the early ones (CORS
 * preflights, IP filters, maintenance) before anyone is asked for a credential, and around the rest
 * for the response; the late ones with the caller known.
 */
const STAGES_AFTER_ROUTE: readonly StageEntry[] = [
  [policies, (route) => route.policies !== null && route.policies.early.length + route.policies.outbound.length > 0],
  authenticate,
  split,
  rateLimit,
  [latePolicies, (route) => route.policies !== null && route.policies.late.length > 0],
  idempotency,
  CACHE,
  coalesce,
  breaker,
  // WebSocket handshakes, after the breaker's admission and instead of the proxy.
  [websocket, (route) => route.websocket !== null],
  proxy,
];

const chainFor = routeChains(STAGES_AFTER_ROUTE, onError);
const afterCache = routeChains(STAGES_AFTER_ROUTE.slice(STAGES_AFTER_ROUTE.indexOf(CACHE) + 1), onError);

app.use(observe);
app.use(requestId);
app.get("/__gateway/health", health);
// Mounted with the trailing slash: the status page is /__gateway/admin/, as it always was.
app.route("/__gateway/admin/", admin);
// The gateway's own namespace: never proxied, whatever the routes say.
app.all("/__gateway/*", () => {
  throw new GatewayError("route-not-found");
});
app.all("*", matchRoute(chainFor));

app.onError(onError);

export default app;
export { ClusterBreaker } from "./durable-objects/cluster-breaker.ts";
export { ConfigPublisher } from "./durable-objects/config-publisher.ts";
export { IdempotencyStore } from "./durable-objects/idempotency-store.ts";
export { MetricsAggregator } from "./durable-objects/metrics-aggregator.ts";
export { RateLimiter } from "./durable-objects/rate-limiter.ts";
