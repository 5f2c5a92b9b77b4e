/**
 * Helpers for breaker tests inside workerd: real upstream backends the tests switch between
 * healthy, failing, hanging, resetting, refusing and slow; a cluster config with quick timings;
 * traffic; and the admin view of a cluster.
 */
import { env } from "cloudflare:workers";
import type { GatewayConfigInput } from "../src/config/schema.ts";
import type { TargetStatus } from "../src/lib/breaker/state.ts";
import { gateway, origin } from "./support.ts";

export type BackendMode = "ok" | "error" | "hang" | "reset" | "refuse" | "slow" | "not-found" | "bad-status" | "unasked-upgrade";
export type BreakerInput = NonNullable<GatewayConfigInput["clusters"][string]["breaker"]>;
type ClusterInput = GatewayConfigInput["clusters"][string];

export interface Backend {
  id: number;
  url: string;
}

/** Starts `count` fresh backends in the test origin's process; each answers 200 until switched. */
export async function startBackends(count: number): Promise<Backend[]> {
  const body = (await (await fetch(`${origin}/__control/backends?count=${count}`)).json()) as { backends: { id: number; port: number }[] };
  return body.backends.map((b) => ({ id: b.id, url: `http://127.0.0.1:${b.port}` }));
}

export async function setBackend(backend: Backend, mode: BackendMode, ms?: number): Promise<void> {
  const response = await fetch(`${origin}/__control/backend?id=${backend.id}&mode=${mode}${ms === undefined ? "" : `&ms=${ms}`}`);
  if (!response.ok) throw new Error(`backend ${backend.id} -> ${mode}: ${response.status}`);
}

/** Requests that reached the backend's handler so far. */
export async function backendHits(backend: Backend): Promise<number> {
  return ((await (await fetch(`${origin}/__control/backend?id=${backend.id}`)).json()) as { hits: number }).hits;
}

/** Sizes of the request bodies the backend received complete. */
export async function backendBodies(backend: Backend): Promise<number[]> {
  return ((await (await fetch(`${origin}/__control/backend?id=${backend.id}`)).json()) as { bodies: number[] }).bodies;
}

/** Quick timings so a test sees ejection and recovery within seconds; jitter off so intervals are exact. */
export const QUICK_BREAKER: BreakerInput = {
  halfLifeSec: 1,
  minRequests: 5,
  baseEjectionSec: 1,
  maxEjectionSec: 30,
  ejectionJitter: 0,
  reportIntervalMs: 100,
  probes: 2,
  probeSuccesses: 2,
  // The first call into a fresh local Durable Object runtime can take over a second (module load).
  objectTimeoutMs: 3_000,
};

/** A fresh cluster name: breaker objects and isolate state outlive a test. */
export function freshClusterName(): string {
  return `bk-${crypto.randomUUID().slice(0, 8)}`;
}

/** One route, `/<cluster>/*`, to a cluster of `backends` with the given breaker settings (null: none). */
export function breakerConfig(
  name: string,
  backends: Backend[],
  breaker: BreakerInput | null = QUICK_BREAKER,
  cluster: Partial<ClusterInput> = {},
): GatewayConfigInput {
  return {
    clusters: { [name]: { targets: backends.map((b) => ({ url: b.url })), ...(breaker && { breaker }), ...cluster } },
    routes: [{ id: name, match: { path: `/${name}/*` }, cluster: name, rewrite: { stripPrefix: `/${name}` } }],
  };
}

/** Sends `n` requests to the cluster's route, `concurrency` at a time; returns the statuses. */
export async function traffic(name: string, n: number, concurrency = 1): Promise<number[]> {
  const statuses: number[] = [];
  for (let sent = 0; sent < n; sent += concurrency) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(concurrency, n - sent) }, async () => {
        const response = await gateway(`/${name}/item`);
        await response.body?.cancel();
        return response.status;
      }),
    );
    statuses.push(...wave);
  }
  return statuses;
}

export interface ClusterStatusBody {
  cluster: string;
  targets: Array<{ url: string } & Partial<Omit<TargetStatus, "retryAt">> & { retryAt?: string | null }>;
  sharedStateUnavailable?: string;
  isolate: {
    mode: string;
    viewAgeMs: number | null;
    inFlight: number;
    targets: Record<string, { state: string; inFlight: number }>;
    /** Targets a publish removed that still carry requests of the older version. */
    retiring?: Record<string, { state: string; inFlight: number }>;
  } | null;
}

export async function clusterStatus(name: string): Promise<ClusterStatusBody> {
  const response = await gateway(`/__gateway/admin/clusters/${name}`, { headers: { authorization: "Bearer test-admin-token" } });
  if (response.status !== 200) throw new Error(`cluster status ${name}: ${response.status}`);
  return (await response.json()) as ClusterStatusBody;
}

/** The shared (object) state of one target. */
export async function targetState(name: string, backend: Backend): Promise<ClusterStatusBody["targets"][number]> {
  const status = await clusterStatus(name);
  const target = status.targets.find((t) => t.url === backend.url);
  if (!target) throw new Error(`no target ${backend.url} in ${name}`);
  return target;
}

/** Runs `step` until `done` says so; throws after `timeoutMs`. Returns how many steps it took. */
export async function until(done: () => Promise<boolean>, step: () => Promise<unknown>, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let steps = 0; ; steps++) {
    if (await done()) return steps;
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await step();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wakes the breaker objects' runtime before a file's first timed step. */
export async function warmBreakerObjects(): Promise<void> {
  const namespace = env.BREAKER;
  if (namespace === undefined) throw new Error("BREAKER binding missing");
  await namespace.get(namespace.idFromName("warm-up")).status(null);
}
