/**
 * edgegate's composition root: the order of the pipeline stages, and nothing else.
 * id -> route -> policies (early) -> identity -> split -> limits -> policies (late) -> idempotency -> coalesce -> health -> proxy. Errors from any stage become problem+json in one place.
 */
import { Hono } from "hono";
import { answerError, GatewayError } from "./errors.ts";
import { admin } from "./routes/admin/index.ts";
import { health } from "./routes/health.ts";
import { authenticate } from "./stages/authenticate/index.ts";
import { breaker } from "./stages/breaker/index.ts";
import { coalesce } from "./stages/coalesce/index.ts";
import { idempotency } from "./stages/idempotency/index.ts";
import { matchRoute } from "./stages/match-route/index.ts";
import { observe } from "./stages/observe/index.ts";
import { latePolicies, policies } from "./stages/policies/index.ts";
import { proxy } from "./stages/proxy/index.ts";
import { rateLimit } from "./stages/rate-limit/index.ts";
import { requestId } from "./stages/request-id/index.ts";
import { split } from "./stages/split/index.ts";
import type { AppEnv } from "./variables.ts";

const app = new Hono<AppEnv>();

app.use(observe);
app.use(requestId);
app.get("/__gateway/health", health);
// Mounted with the trailing slash: the status page is /__gateway/admin/, as it always was.
app.route("/__gateway/admin/", admin);
// The gateway's own namespace: never proxied, whatever the routes say.
app.all("/__gateway/*", () => {
  throw new GatewayError("route-not-found");
});
// Coalescing comes before health: a follower makes no upstream call, so it must not take an
// in-flight slot or count as an outcome.
// The route's policies: the early ones (CORS preflights, IP filters, maintenance) before anyone is
// asked for a credential, and around the rest for the response; the late ones with the caller known.
app.all("*", matchRoute, policies, authenticate, split, rateLimit, latePolicies, idempotency, coalesce, breaker, proxy);

app.onError((error, c) => answerError(error, c.get("requestId")));

export default app;
export { ClusterBreaker } from "./durable-objects/cluster-breaker.ts";
export { ConfigPublisher } from "./durable-objects/config-publisher.ts";
export { IdempotencyStore } from "./durable-objects/idempotency-store.ts";
export { RateLimiter } from "./durable-objects/rate-limiter.ts";
