/**
 * POST /__gateway/admin/cache/purge: drops stored answers by route, by path prefix, by a tag the
 * upstream set (Cache-Tag), or by any combination (all given must match). The purge is in force in
 * this isolate at once and in every other as it next reads the purge list (docs/caching.md).
 */
import type { Context } from "hono";
import * as v from "valibot";
import { deploymentValidation } from "../../config/deployment.ts";
import { snapshotCache } from "../../config/snapshot-cache.ts";
import { gatewaySettings } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import { lifetimeSec, MAX_LIFETIME_SEC } from "../../lib/cache/config.ts";
import { type PurgeRule, purgeRequestSchema } from "../../lib/cache/purge.ts";
import { log } from "../../lib/log.ts";
import { storePurge } from "../../services/cache/purges.ts";
import type { AppEnv } from "../../variables.ts";
import { jsonBody } from "./config.ts";

/** Past the longest lifetime: the clocks of the isolate that stored a copy and of this one may differ a little. */
const KEEP_MARGIN_SEC = 60;

export async function purgeCache(c: Context<AppEnv>): Promise<Response> {
  const parsed = v.safeParse(purgeRequestSchema, await jsonBody(c), { abortEarly: false });
  if (!parsed.success) {
    const issues = parsed.issues.map((issue) => ({
      path: issue.path?.map((item) => String(item.key)).join(".") || "(root)",
      message: issue.message,
    }));
    throw new GatewayError("bad-request", "The body must name a route, a prefix or a tag to purge.", {}, { issues });
  }
  const request = parsed.output;
  const settings = gatewaySettings(c.env);
  const snapshot = await snapshotCache.get(
    { kv: c.env.CONFIG, validation: deploymentValidation(c.env), refreshIntervalMs: settings.configRefreshIntervalMs },
    (p) => c.executionCtx.waitUntil(p),
  );
  const caching = snapshot?.routes.filter((route) => route.cache !== null) ?? [];
  if (request.route !== undefined && !caching.some((route) => route.id === request.route)) {
    throw new GatewayError("not-found", "The current config has no caching route of that id.");
  }
  // A rule must outlive every copy it could match: the longest lifetime a route has now, or any
  // route could have, when the config cannot be read.
  const longest =
    caching.length === 0
      ? MAX_LIFETIME_SEC * 2
      : Math.max(...caching.map((route) => (route.cache === null ? 0 : lifetimeSec(route.cache))));
  const keepSec = longest + KEEP_MARGIN_SEC;
  const rule: PurgeRule = { at: Date.now(), ...request };
  try {
    await storePurge(c.env.CONFIG, rule, keepSec);
  } catch (error) {
    log({ level: "error", event: "admin.cache_purge_failed", error: error instanceof Error ? error.message : String(error) });
    throw new GatewayError("config-unavailable", "The purge could not be recorded; nothing was purged. Retry it.", { "retry-after": "1" });
  }
  snapshotCache.runtime.cachePurges.add(rule, keepSec * 1000);
  return c.json({ purged: rule }, 202, { "cache-control": "no-store", "x-request-id": c.get("requestId") });
}
