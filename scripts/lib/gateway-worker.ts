/**
 * The gateway as Miniflare runs it outside wrangler dev: the deploy bundle, the compatibility
 * settings from wrangler.jsonc, its KV namespace and Durable Objects, and the given bindings. The
 * end-to-end tests serve it this way; the benchmark reads only the compatibility settings, since it
 * runs `workerd serve` without Miniflare (scripts/bench/workerd.ts).
 */
import { resolve } from "node:path";
import { unstable_readConfig } from "wrangler";

const ROOT = resolve(import.meta.dirname, "../..");

/**
 * compatibility_date and compatibility_flags of the production environment in wrangler.jsonc, so
 * every run matches a deploy. Read by wrangler's own reader: JSONC (comments, trailing commas) and
 * the environment's inheritance from the top level, exactly as `wrangler deploy` resolves them.
 */
export function wranglerCompatibility(): { compatibilityDate: string; compatibilityFlags: string[] } {
  const config = unstable_readConfig({ config: resolve(ROOT, "wrangler.jsonc"), env: "production" }, { hideWarnings: true });
  if (config.compatibility_date === undefined) throw new Error("wrangler.jsonc sets no compatibility_date");
  return { compatibilityDate: config.compatibility_date, compatibilityFlags: config.compatibility_flags };
}

/** Miniflare's (flat, v4-shaped) options for the gateway Worker built into `bundleDir`, listening on `port`. */
export function gatewayWorkerOptions(bundleDir: string, port: number, bindings: Record<string, string>) {
  return {
    name: "gateway",
    modules: true,
    scriptPath: resolve(bundleDir, "index.js"),
    ...wranglerCompatibility(),
    kvNamespaces: ["CONFIG"],
    durableObjects: {
      RATE_LIMITER: { className: "RateLimiter", useSQLite: true },
      BREAKER: { className: "ClusterBreaker", useSQLite: true },
      CONFIG_PUBLISHER: { className: "ConfigPublisher", useSQLite: true },
      IDEMPOTENCY: { className: "IdempotencyStore", useSQLite: true },
      METRICS_AGGREGATOR: { className: "MetricsAggregator", useSQLite: true },
    },
    bindings,
    // Requests go straight to the Worker, without Miniflare's entry proxy in front.
    unsafeDirectSockets: [{ host: "127.0.0.1", port }],
  };
}
