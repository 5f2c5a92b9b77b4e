/**
 * GET /__gateway/health: liveness, and which config version this isolate serves. Public by
 * design, so it says nothing about why a config was refused (that goes to the logs).
 */
import type { Context } from "hono";
import { deploymentValidation } from "../config/deployment.ts";
import { snapshotCache } from "../config/snapshot-cache.ts";
import { gatewaySettings } from "../env.ts";
import type { AppEnv } from "../variables.ts";

export async function health(c: Context<AppEnv>): Promise<Response> {
  const settings = gatewaySettings(c.env);
  await snapshotCache.get(
    { kv: c.env.CONFIG, validation: deploymentValidation(c.env), refreshIntervalMs: settings.configRefreshIntervalMs },
    (p) => c.executionCtx.waitUntil(p),
  );
  const { snapshot, state } = snapshotCache.status();
  return c.json(
    {
      status: "ok",
      config: {
        state,
        version: snapshot?.version ?? null,
        routes: snapshot?.routeCount ?? 0,
        compiledAt: snapshot ? new Date(snapshot.compiledAt).toISOString() : null,
      },
    },
    200,
    { "cache-control": "no-store", "x-request-id": c.get("requestId") },
  );
}
