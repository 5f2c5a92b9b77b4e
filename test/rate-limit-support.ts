/**
 * Helpers for rate-limit tests inside workerd: a route with policies, bursts of concurrent
 * requests, the gateway's counters, and the local Upstash's Redis switch.
 */
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import type { GatewayConfigInput } from "../src/config/schema.ts";
import { DurableObjectLimiter } from "../src/services/rate-limit/durable-object.ts";
import { gateway, simpleConfig } from "./support.ts";

export type PolicyInput = NonNullable<GatewayConfigInput["routes"][number]["rateLimits"]>[number];

export const upstashUrl = inject("upstashUrl");

/** A fresh route id, so counters of earlier tests (Redis and Durable Objects outlive a test) never interfere. */
export function freshRouteId(): string {
  return `rl-${crypto.randomUUID().slice(0, 8)}`;
}

/** A config whose one route forwards to the test origin's /count under the given policies. */
export function limitedConfig(policies: PolicyInput[], route: Partial<GatewayConfigInput["routes"][number]> = {}): GatewayConfigInput {
  return simpleConfig({ id: freshRouteId(), rewrite: { path: "/count" }, rateLimits: policies, ...route });
}

/** Sends `n` requests at once; returns their statuses in order. */
export async function burst(n: number, path: (i: number) => string, init: (i: number) => Parameters<typeof gateway>[1] = () => ({})) {
  const responses = await Promise.all(Array.from({ length: n }, (_, i) => gateway(path(i), init(i))));
  await Promise.all(responses.map((r) => r.body?.cancel()));
  return responses;
}

export function countStatus(responses: Response[], status: number): number {
  return responses.filter((r) => r.status === status).length;
}

/** The isolate's counters, through the admin API. */
export async function gatewayCounters(): Promise<Record<string, number>> {
  const response = await gateway("/__gateway/admin/metrics?format=json", { headers: { authorization: "Bearer test-admin-token" } });
  if (response.status !== 200) throw new Error(`metrics: ${response.status}`);
  return ((await response.json()) as { isolateCounters: Record<string, number> }).isolateCounters;
}

/** Sum of the counters whose key starts with `prefix`. */
export function counterSum(counters: Record<string, number>, prefix: string): number {
  return Object.entries(counters)
    .filter(([key]) => key.startsWith(prefix))
    .reduce((sum, [, value]) => sum + value, 0);
}

export async function redis(action: "stop" | "start"): Promise<void> {
  const response = await fetch(`${upstashUrl}/__control/redis/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
  });
  if (!response.ok) throw new Error(`redis ${action}: ${response.status}`);
}

/**
 * Wakes the Durable Object runtime once per test file: the first call into a Durable Object of a
 * fresh local runtime takes over a second (module load), longer than a policy's timeout, which
 * would turn the first test's counts into fail-open ones. Production objects start in milliseconds.
 */
export async function warmDurableObjects(): Promise<void> {
  const spec = { algorithm: "fixed-window" as const, limit: 1, windowMs: 1000, refill: 1 };
  await new DurableObjectLimiter(env.RATE_LIMITER, "warm-up", spec, 30_000).take(crypto.randomUUID(), 1, false);
}
