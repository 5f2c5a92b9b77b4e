/**
 * Stage 8: upstream health. Refuses at once, without an upstream call, when no target of the
 * route's cluster can take the request (all ejected: 503 with Retry-After) or when this isolate
 * already has the cluster's maximum in flight (load shedding: 503 rather than a queue). Hands the
 * cluster's health to the proxy, which picks among routable targets and records outcomes, and
 * ships those outcomes to the cluster's breaker object in the background.
 */
import { createMiddleware } from "hono/factory";
import { unavailableError } from "../../services/breaker/cluster-health.ts";
import type { AppEnv } from "../../variables.ts";

export const breaker = createMiddleware<AppEnv>(async function breaker(c, next) {
  const health = c.get("clusterRuntime").health;
  c.set("clusterHealth", health);
  if (health === null) return next();

  const background = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
  const unavailable = health.check(Date.now());
  const record = c.get("record");
  if (unavailable !== null) {
    record.breaker = unavailable.reason === "overloaded" ? "upstream-overloaded" : "no-healthy-upstream";
    // The refusal may have asked for probe leases: let the report carry the wish.
    health.maybeReport(Date.now(), c.env.BREAKER, background);
    throw unavailableError(unavailable);
  }
  record.breaker = "routed";
  health.enter();
  try {
    await next();
  } finally {
    health.leave();
    health.maybeReport(Date.now(), c.env.BREAKER, background);
  }
});
