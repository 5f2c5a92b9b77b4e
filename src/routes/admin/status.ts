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
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../../lib/prometheus.ts";
import { withTimeout } from "../../lib/timeout.ts";
import { fleetTotals, metricsReporter } from "../../services/metrics/reporter.ts";
import { localDataPoints } from "../../services/metrics/sink.ts";
import type { AppEnv } from "../../variables.ts";

/** How long the metrics read waits for each aggregator shard. */
const SHARD_READ_TIMEOUT_MS = 3_000;

/** JSON by `?format=json` or an Accept that prefers application/json; the Prometheus text format otherwise. */
function wantsJson(c: Context<AppEnv>): boolean {
  const format = c.req.query("format");
  if (format !== undefined) {
    if (format === "json") return true;
    if (format === "prometheus" || format === "text") return false;
    throw new GatewayError("bad-request", "format must be json or prometheus.");
  }
  const accept = c.req.header("accept") ?? "";
  return /\bapplication\/json\b/i.test(accept) && !/\btext\/plain\b/i.test(accept);
}

/**
 * GET /__gateway/admin/metrics: the fleet's counters and histograms (the sum of every aggregator
 * shard, this isolate's latest counts reported first), in the Prometheus text format, or as JSON
 * with this isolate's own counters and latest data points beside them. Without the
 * METRICS_AGGREGATOR binding the totals are this isolate's alone, and the answer says so.
 */
export async function metrics(c: Context<AppEnv>): Promise<Response> {
  const json = wantsJson(c);
  const namespace = c.env.METRICS_AGGREGATOR;
  let scope: "fleet" | "isolate" = "isolate";
  let totals: Record<string, number>;
  if (namespace === undefined) totals = counterSnapshot();
  else {
    await metricsReporter.flush(namespace);
    try {
      totals = await fleetTotals(namespace, SHARD_READ_TIMEOUT_MS);
    } catch {
      throw new GatewayError("metrics-unavailable", "A metrics shard did not answer; try again.", { "retry-after": "1" });
    }
    scope = "fleet";
  }
  const headers = { "cache-control": "no-store", "x-request-id": c.get("requestId"), "x-edgegate-metrics-scope": scope };
  if (json)
    return c.json({ scope, counters: totals, isolateCounters: counterSnapshot(), dataPoints: localDataPoints.recent() }, 200, headers);
  return c.body(prometheusText(totals), 200, { ...headers, "content-type": PROMETHEUS_CONTENT_TYPE });
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
