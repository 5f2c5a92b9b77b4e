/**
 * Helpers for caching tests inside workerd: a caching route to the test origin's slow, hit-counting
 * `/coalesce` endpoint, purges through the admin API, and the route's cache counters.
 */
import type { GatewayConfigInput } from "../src/config/schema.ts";
import { applyConfig, gateway, simpleConfig } from "./support.ts";

type RouteInput = GatewayConfigInput["routes"][number];
export type CacheInput = NonNullable<RouteInput["cache"]>;

/** A fresh route id per test: stored copies and counters outlive a test within the isolate. */
export function freshCacheRouteId(): string {
  return `ca-${crypto.randomUUID().slice(0, 8)}`;
}

/** Publishes one route with caching on (`cache`) under the given id, to `cluster` (default: the test origin). */
export async function cachingRoute(
  id: string,
  cache: CacheInput,
  route: Partial<RouteInput> = {},
  cluster: Partial<GatewayConfigInput["clusters"][string]> = {},
): Promise<void> {
  await applyConfig(simpleConfig({ id, cache, ...route }, cluster));
}

/** Sends a purge through the admin API. */
export function purge(body: unknown, init: RequestInit = {}): Promise<Response> {
  return gateway("/__gateway/admin/cache/purge", {
    method: "POST",
    ...init,
    headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...(init.headers as Record<string, string>) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Milliseconds to wait, for tests that let a stored copy go stale. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
