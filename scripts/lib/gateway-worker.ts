/**
 * The gateway as Miniflare runs it outside wrangler dev: the deploy bundle, the compatibility
 * settings from wrangler.toml, its KV namespace and Durable Objects, and the given bindings. The
 * end-to-end tests serve it this way; the benchmark reads only the compatibility settings, since it
 * runs `workerd serve` without Miniflare (scripts/bench/workerd.ts).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

/** compatibility_date and compatibility_flags from wrangler.toml, so every run matches a deploy. */
export function wranglerCompatibility(): { compatibilityDate: string; compatibilityFlags: string[] } {
  const toml = readFileSync(resolve(ROOT, "wrangler.toml"), "utf8");
  const compatibilityDate = /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)?.[1] ?? "2026-11-01";
  const flags = /compatibility_flags\s*=\s*\[([^\]]*)\]/.exec(toml)?.[1] ?? "";
  return { compatibilityDate, compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string) };
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
    },
    bindings,
    // Requests go straight to the Worker, without Miniflare's entry proxy in front.
    unsafeDirectSockets: [{ host: "127.0.0.1", port }],
  };
}
