/**
 * The admin API's read-outs of the isolate and the fleet: metrics and a cluster's health.
 */
import type { Context } from "hono";
import { deploymentValidation } from "../../config/deployment.ts";
import { snapshotCache } from "../../config/snapshot-cache.ts";
import { gatewaySettings } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import type { TargetStatus } from "../../lib/breaker/state.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";
import { localDataPoints } from "../../services/metrics/sink.ts";
import type { AppEnv } from "../../variables.ts";

/** GET /__gateway/admin/metrics: this isolate's counters and its latest per-request data points. */
export function metrics(c: Context<AppEnv>): Response {
  return c.json({ isolateCounters: counterSnapshot(), dataPoints: localDataPoints.recent() }, 200, {
    "cache-control": "no-store",
    "x-request-id": c.get("requestId"),
  });
}

/**
 * GET /__gateway/admin/clusters/:name: the cluster's targets with their breaker state, score and
 * counts as the cluster's object has them, beside this isolate's own view and in-flight counts.
 */
export async function clusterStatus(c: Context<AppEnv>): Promise<Response> {
  const settings = gatewaySettings(c.env);
  const snapshot = await snapshotCache.get(
    { kv: c.env.CONFIG, validation: deploymentValidation(c.env), refreshIntervalMs: settings.configRefreshIntervalMs },
    (p) => c.executionCtx.waitUntil(p),
  );
  const name = c.req.param("name") ?? "";
  const cluster = snapshot?.clusters.get(name);
  if (cluster === undefined) throw new GatewayError("cluster-not-found", "The current config has no cluster of that name.");

  let shared: Record<string, TargetStatus> | null = null;
  let sharedError: string | null = null;
  const namespace = c.env.BREAKER;
  if (cluster.breaker === null) sharedError = "the cluster has no breaker";
  else if (namespace === undefined) sharedError = "the BREAKER Durable Object binding is missing; isolates judge on their own";
  else {
    try {
      const stub = namespace.get(namespace.idFromName(cluster.name));
      shared = await withTimeout(stub.status(cluster.breaker), cluster.breaker.objectTimeoutMs, () => new Error("timeout"));
    } catch {
      sharedError = "the cluster's breaker object did not answer";
    }
  }
  const now = Date.now();
  const isolate = snapshotCache.runtime.clusterTracker(cluster.name)?.snapshot(now) ?? null;
  return c.json(
    {
      cluster: cluster.name,
      breaker: cluster.breaker,
      maxInFlight: cluster.maxInFlight,
      maxInFlightPerTarget: cluster.maxInFlightPerTarget,
      targets: cluster.targets.map((target) => {
        const status = shared?.[target.key];
        return {
          url: target.key,
          ...(status && { ...status, retryAt: status.retryAt === null ? null : new Date(status.retryAt).toISOString() }),
        };
      }),
      ...(sharedError !== null && { sharedStateUnavailable: sharedError }),
      isolate,
    },
    200,
    { "cache-control": "no-store", "x-request-id": c.get("requestId") },
  );
}
