/**
 * Helpers for coalescing tests inside workerd: a route to the test origin's slow, hit-counting
 * `/coalesce` endpoint, bursts of concurrent requests, and the route's coalescing counters.
 */
import type { GatewayConfigInput } from "../src/config/schema.ts";
import { applyConfig, gateway, simpleConfig } from "./support.ts";

type RouteInput = GatewayConfigInput["routes"][number];

/** A fresh route id per test: counters and in-flight tables outlive a test within the isolate. */
export function freshRouteId(): string {
  return `co-${crypto.randomUUID().slice(0, 8)}`;
}

/** Publishes one route with coalescing on (`coalesce` overrides) under the given id. */
export async function coalescingRoute(id: string, coalesce: RouteInput["coalesce"] = {}, route: Partial<RouteInput> = {}): Promise<void> {
  await applyConfig(simpleConfig({ id, coalesce, ...route }));
}

/** A unique origin hit counter key. */
export function freshKey(): string {
  return crypto.randomUUID();
}

/** Sends `n` requests at once; `init(i)` shapes each. Resolves with every response, in order. */
export function burst(
  n: number,
  path: string | ((i: number) => string),
  init: (i: number) => RequestInit = () => ({}),
): Promise<Response[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => gateway(typeof path === "string" ? path : path(i), init(i))));
}

/** The route's coalescing counters, from the admin metrics of the isolate that serves the tests. */
export async function coalesceCounters(routeId: string): Promise<Record<string, number>> {
  const response = await gateway("/__gateway/admin/metrics?format=json", { headers: { authorization: "Bearer test-admin-token" } });
  const { isolateCounters } = (await response.json()) as { isolateCounters: Record<string, number> };
  const mine: Record<string, number> = {};
  const label = `route="${routeId}"`;
  for (const [key, value] of Object.entries(isolateCounters)) {
    if (key.startsWith("coalesce_") && key.includes(label))
      mine[key.replace(label, "").replace("{,", "{").replace(",}", "}").replace("{}", "")] = value;
  }
  return mine;
}
