/**
 * The Worker's bindings and the deployment settings read from them, validated once per isolate.
 * The binding types come from `wrangler types` (worker-configuration.d.ts, generated from
 * wrangler.jsonc); this file imports nothing of the gateway's, so every layer may import it.
 */
import type { ConfigValidationOptions } from "./lib/config/fields.ts";

/**
 * Secrets, set with `wrangler secret put`. wrangler.jsonc does not list them; `npm run types` takes their
 * names from .dev.vars.example and types them as always set, so each is made optional here.
 */
export interface Secrets {
  /** The Upstash Redis REST endpoint and token for policies with backend "upstash". */
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** The bearer token of /__gateway/admin/*. Unset, the admin surface does not exist (404). */
  ADMIN_TOKEN?: string;
}

/**
 * Bindings a deployment may leave out of wrangler.jsonc: rate-limit counters (RATE_LIMITER), upstream
 * health (BREAKER, unbound: each isolate judges alone), Idempotency-Key records (IDEMPOTENCY), admin
 * publishes (CONFIG_PUBLISHER), per-request data points (METRICS, unbound: an in-memory ring) and
 * fleet-wide metrics (METRICS_AGGREGATOR, unbound: the admin metrics read the serving isolate only).
 * Each feature that needs one says so when it is missing.
 */
type OptionalBinding = "RATE_LIMITER" | "BREAKER" | "IDEMPOTENCY" | "CONFIG_PUBLISHER" | "METRICS" | "METRICS_AGGREGATOR";

/** Vars wrangler.jsonc sets whose defaults the code knows too. */
type OptionalVar = "ALLOW_PRIVATE_UPSTREAMS" | "CONFIG_REFRESH_INTERVAL_MS";

/** The Worker's env: the generated bindings, with the optional ones marked, and the secrets. */
export type Bindings = Omit<Cloudflare.Env, OptionalBinding | OptionalVar | keyof Secrets> &
  Partial<Pick<Cloudflare.Env, OptionalBinding | OptionalVar>> &
  Secrets;

export interface GatewaySettings {
  validation: ConfigValidationOptions;
  configRefreshIntervalMs: number;
}

const DEFAULT_REFRESH_MS = 5_000;

// Keyed by the env object, which the runtime keeps for the isolate's lifetime: parsing it once
// keeps string-to-number work off the hot path.
const settingsCache = new WeakMap<Bindings, GatewaySettings>();

/** The deployment settings derived from the bindings. Malformed values fall back to safe defaults. */
export function gatewaySettings(env: Bindings): GatewaySettings {
  let settings = settingsCache.get(env);
  if (!settings) {
    const interval = Number(env.CONFIG_REFRESH_INTERVAL_MS ?? DEFAULT_REFRESH_MS);
    settings = {
      validation: { allowPrivateUpstreams: env.ALLOW_PRIVATE_UPSTREAMS === "true" },
      configRefreshIntervalMs: Number.isFinite(interval) && interval >= 0 ? interval : DEFAULT_REFRESH_MS,
    };
    settingsCache.set(env, settings);
  }
  return settings;
}
