/**
 * Stage 4: a route's weighted split. Picks the side of the split the request goes to: the cluster
 * a test override names, else the side its sticky key hashes to (the same caller always lands on
 * the same side), else a random one by the configured shares. Later stages (health, proxy) use the
 * chosen cluster. Comes after authentication, so a split can stick to the JWT subject.
 */
import { createMiddleware } from "hono/factory";
import type { CompiledCluster } from "../../lib/cluster/config.ts";
import { cookieValue } from "../../lib/credentials.ts";
import { count } from "../../lib/metrics.ts";
import { BUCKETS, bucketOf, sideOf, stickyValue } from "../../lib/split/buckets.ts";
import type { CompiledSplit } from "../../lib/split/config.ts";
import type { ClusterRuntime } from "../../runtime/isolate-runtime.ts";
import type { AppEnv } from "../../variables.ts";

function overridden(plan: CompiledSplit, headers: Headers): number {
  const override = plan.override;
  if (override === null) return -1;
  const named =
    (override.header !== null ? headers.get(override.header) : null) ??
    (override.cookie !== null ? cookieValue(headers.get("cookie"), override.cookie) : undefined);
  if (!named) return -1;
  return plan.sides.findIndex((side: CompiledCluster) => side.name === named.trim());
}

export const split = createMiddleware<AppEnv>(async function split(c, next) {
  const plan = c.get("route").split;
  if (plan === null) return next();
  const headers = c.req.raw.headers;
  let side = overridden(plan, headers);
  let how: "override" | "sticky" | "random" = "override";
  if (side === -1) {
    const sticky = plan.sticky === null ? undefined : stickyValue(plan.sticky, headers, c.get("identity"));
    how = sticky === undefined ? "random" : "sticky";
    side = sideOf(sticky === undefined ? Math.floor(Math.random() * BUCKETS) : bucketOf(sticky), plan.bounds);
  }
  const cluster = plan.sides[side] as CompiledCluster;
  count((plan.metrics[side] as Record<typeof how, string>)[how]);
  c.set("cluster", cluster);
  c.set("clusterRuntime", c.get("routeRuntime").splitSides[side] as ClusterRuntime);
  const record = c.get("record");
  record.cluster = cluster.name;
  record.split = how;
  await next();
});
