/**
 * Helpers for admin API tests: authenticated calls, and a config of its own for each test, on
 * routes whose origin paths say which version served them.
 */
import type { GatewayConfigInput } from "../src/config/schema.ts";
import { gateway, origin } from "./support.ts";

export const ADMIN_TOKEN = "test-admin-token";

/** An admin API call with the token (unless `token` says otherwise) and a JSON body when given. */
export function admin(
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; token?: string | null; rawBody?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== null) headers.authorization ??= `Bearer ${options.token ?? ADMIN_TOKEN}`;
  if ((options.body !== undefined || options.rawBody !== undefined) && !headers["content-type"])
    headers["content-type"] = "application/json";
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return gateway(`/__gateway/admin${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
}

/** A config whose one route sends `/<tag>/...` to the origin's echo endpoint. */
export function taggedConfig(tag: string, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    clusters: { origin: { targets: [{ url: origin }] } },
    routes: [{ id: tag, match: { path: `/${tag}/*` }, cluster: "origin", rewrite: { stripPrefix: `/${tag}`, prefix: "/echo" } }],
    ...extra,
  };
}

/** The current version (the ETag of GET /config). */
export async function currentVersion(): Promise<string | null> {
  const response = await admin("GET", "/config");
  if (response.status === 404) return null;
  return ((await response.json()) as { version: string }).version;
}

/** Waits until the gateway serves `version`. */
export async function untilServing(version: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const health = (await (await gateway("/__gateway/health")).json()) as { config: { version: string | null } };
    if (health.config.version === version) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gateway did not load ${version}`);
}
