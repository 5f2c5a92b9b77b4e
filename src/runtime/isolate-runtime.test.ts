/**
 * The isolate runtime's hand-over between config versions: every mutable piece is kept by its
 * stable key (target URLs, policy prefix and settings, JWKS URI, the route's coalescing identity),
 * so a version that leaves a piece alone keeps its state, a changed one starts fresh, and a
 * dropped one is released while requests still on the old version keep what they started with.
 */
import { describe, expect, it } from "vitest";
import { compileConfig, type Snapshot } from "../config/compile.ts";
import { type GatewayConfigInput, parseConfig } from "../config/schema.ts";
import type { JwksSource } from "../services/jwks/key-set.ts";
import { IsolateRuntime, type RouteRuntime } from "./isolate-runtime.ts";

const A = "https://a.example";
const B = "https://b.example";
const C = "https://c.example";

/** A JWKS source that never answers: these tests look at which key set is kept, not at keys. */
const silentSource: JwksSource = {
  fetchRemote: () => new Promise(() => {}),
  readShared: async () => undefined,
  writeShared: async () => {},
};

let versions = 0;

function compiled(input: GatewayConfigInput): Snapshot {
  const parsed = parseConfig(input, { allowPrivateUpstreams: false });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileConfig(parsed.config, `v${++versions}`);
}

interface Knobs {
  targets?: string[];
  weights?: number[];
  breaker?: boolean;
  limit?: number;
  windowSec?: number;
  retryRatio?: number;
  issuer?: string;
  jwksUri?: string;
  coalesceWaiters?: number;
  routeId?: string;
}

/** One route with every stateful feature, on cluster `c`; `knobs` change one thing at a time. */
function config(knobs: Knobs = {}): GatewayConfigInput {
  const targets = knobs.targets ?? [A, B];
  return {
    clusters: {
      c: {
        targets: targets.map((url, i) => ({ url, weight: knobs.weights?.[i] ?? 1 })),
        ...(knobs.breaker !== false && { breaker: { reportIntervalMs: 60_000 } }),
      },
      m: { targets: [{ url: C }] },
    },
    jwtProviders: {
      idp: { issuer: knobs.issuer ?? "https://idp.example/", audience: "api", jwksUri: knobs.jwksUri ?? "https://idp.example/jwks" },
    },
    routes: [
      {
        id: knobs.routeId ?? "r",
        match: { path: "/r/*" },
        cluster: "c",
        auth: { jwt: "idp", apiKey: {} },
        retry: { attempts: 1, budget: { ratio: knobs.retryRatio ?? 0.2 } },
        rateLimits: [{ id: "p", limit: knobs.limit ?? 10, windowSec: knobs.windowSec ?? 60, key: ["subject"] }],
        coalesce: { maxWaiters: knobs.coalesceWaiters ?? 100 },
        mirror: { cluster: "m" },
      },
    ],
  };
}

function newRuntime(): IsolateRuntime {
  return new IsolateRuntime({ jwksSource: silentSource });
}

function onlyRoute(version: { routes: readonly RouteRuntime[] }): RouteRuntime {
  return version.routes[0] as RouteRuntime;
}

describe("IsolateRuntime.install", () => {
  it("resolves every route's handles once, by the route's index, from plain compiled data", () => {
    const runtime = newRuntime();
    const snapshot = compiled(config());
    const frozen = JSON.stringify(snapshot.routes[0], (_, value) => (value instanceof Set ? [...value] : value));
    const installed = runtime.install(snapshot);
    const route = onlyRoute(installed);
    expect(installed.snapshot).toBe(snapshot);
    expect(route.limiters).toHaveLength(1);
    expect(route.retryBudget).not.toBeNull();
    expect(route.coalesce).not.toBeNull();
    expect(route.jwt).not.toBeNull();
    expect(route.apiKeys).not.toBeNull();
    expect(route.mirror?.balancer).toBeDefined();
    expect(route.cluster.health).not.toBeNull();
    expect(route.splitSides).toEqual([]);
    // Installing wrote nothing into the compiled snapshot.
    expect(JSON.stringify(snapshot.routes[0], (_, value) => (value instanceof Set ? [...value] : value))).toBe(frozen);
    expect(runtime.sizes()).toEqual({ balancers: 2, budgets: 1, limiters: 1, coalesce: 1, keySets: 1, tokenCaches: 1 });
  });

  it("hands every piece over by key when a publish leaves it alone", () => {
    const runtime = newRuntime();
    const v1 = onlyRoute(runtime.install(compiled(config())));
    const v2 = onlyRoute(runtime.install(compiled(config())));
    expect(v2.cluster.balancer).toBe(v1.cluster.balancer);
    expect(v2.mirror?.balancer).toBe(v1.mirror?.balancer);
    expect(v2.retryBudget).toBe(v1.retryBudget);
    expect(v2.limiters[0]).toBe(v1.limiters[0]);
    expect(v2.coalesce).toBe(v1.coalesce);
    expect(v2.jwt?.keySet).toBe(v1.jwt?.keySet);
    expect(v2.jwt?.tokenCache).toBe(v1.jwt?.tokenCache);
    expect(v2.apiKeys).toBe(v1.apiKeys);
    // Health is per version (each version resolves its own targets) over one tracker per cluster name.
    expect(v2.cluster.health).not.toBe(v1.cluster.health);
    expect(runtime.sizes()).toEqual({ balancers: 2, budgets: 1, limiters: 1, coalesce: 1, keySets: 1, tokenCaches: 1 });
  });

  it("starts afresh exactly the pieces whose key changed", () => {
    const runtime = newRuntime();
    const v1 = onlyRoute(runtime.install(compiled(config())));

    // The cluster's weights are the balancer's business alone.
    const reweighted = onlyRoute(runtime.install(compiled(config({ weights: [3, 1] }))));
    expect(reweighted.cluster.balancer).not.toBe(v1.cluster.balancer);
    expect(reweighted.mirror?.balancer).toBe(v1.mirror?.balancer);
    expect(reweighted.limiters[0]).toBe(v1.limiters[0]);
    expect(reweighted.retryBudget).toBe(v1.retryBudget);
    expect(reweighted.coalesce).toBe(v1.coalesce);
    expect(reweighted.jwt?.tokenCache).toBe(v1.jwt?.tokenCache);

    // A rule of verification changed: tokens verified under the old rules are not trusted; the keys are.
    const reissued = onlyRoute(runtime.install(compiled(config({ issuer: "https://other/" }))));
    expect(reissued.jwt?.tokenCache).not.toBe(v1.jwt?.tokenCache);
    expect(reissued.jwt?.keySet).toBe(v1.jwt?.keySet);
    expect(reissued.limiters[0]).toBe(v1.limiters[0]);

    // A new limit (same algorithm and window): the counters stay in the backend, the limiter and its leases are rebuilt.
    const limited = onlyRoute(runtime.install(compiled(config({ limit: 20 }))));
    expect(limited.limiters[0]).not.toBe(v1.limiters[0]);
    expect(limited.retryBudget).toBe(v1.retryBudget);
    // Any change to a coalescing route starts its flights and pass marks afresh.
    expect(limited.coalesce).not.toBe(v1.coalesce);

    const budgeted = onlyRoute(runtime.install(compiled(config({ limit: 20, retryRatio: 0.5 }))));
    expect(budgeted.retryBudget).not.toBe(v1.retryBudget);
    expect(budgeted.limiters[0]).toBe(limited.limiters[0]);
  });

  it("releases what the new version dropped, while requests on the old version keep using theirs", () => {
    const runtime = newRuntime();
    const v1 = onlyRoute(runtime.install(compiled(config())));
    const v2 = onlyRoute(runtime.install(compiled(config({ routeId: "renamed", jwksUri: "https://idp.example/keys2" }))));
    // Pieces keyed by the route id, and the key set of the old URI, are released: the pools hold only v2's.
    expect(v2.retryBudget).not.toBe(v1.retryBudget);
    expect(v2.limiters[0]).not.toBe(v1.limiters[0]);
    expect(v2.jwt?.keySet).not.toBe(v1.jwt?.keySet);
    expect(runtime.sizes()).toEqual({ balancers: 2, budgets: 1, limiters: 1, coalesce: 1, keySets: 1, tokenCaches: 1 });
    // A request still on v1 keeps working with its own handles.
    const budget = v1.retryBudget;
    expect(() => budget?.recordRequest()).not.toThrow();
    const joined = v1.coalesce?.flights.join("k");
    expect(joined?.role).toBe("leader");
    // Publishing v1's rules again makes fresh state: nothing released comes back.
    const v3 = onlyRoute(runtime.install(compiled(config())));
    expect(v3.retryBudget).not.toBe(v1.retryBudget);
    expect(v3.coalesce).not.toBe(v1.coalesce);
  });

  it("keeps upstream health by target URL across a reorder and a shrink", () => {
    const runtime = newRuntime();
    const v1 = runtime.install(compiled(config({ targets: [A, B, C] })));
    const h1 = onlyRoute(v1).cluster.health;
    if (h1 === null) throw new Error("cluster c has a breaker");
    const onC = h1.begin(2);
    const onA = h1.begin(0);

    // Shrink and reorder: [A, B, C] -> [B, A].
    const v2 = runtime.install(compiled(config({ targets: [B, A] })));
    const tracker = runtime.clusterTracker("c");
    expect(tracker?.snapshot(Date.now()).targets[A]?.inFlight).toBe(1);
    expect(tracker?.snapshot(Date.now()).retiring?.[C]?.inFlight).toBe(1);
    // Both requests end on the targets they began on; the removed target is dropped after its last one.
    expect(() => h1.end(2, onC, "success", 5)).not.toThrow();
    h1.end(0, onA, "success", 5);
    const view = tracker?.snapshot(Date.now());
    expect(view?.targets[A]?.inFlight).toBe(0);
    expect(view?.targets[B]?.inFlight).toBe(0);
    expect(view?.targets[C]).toBeUndefined();
    expect(view?.retiring).toBeUndefined();
    const h2 = onlyRoute(v2).cluster.health;
    expect(h2?.routable(0, Date.now())).toBe(true);
    expect(h2?.routable(1, Date.now())).toBe(true);
  });

  it("forgets the health of a cluster the new version no longer has, and starts it closed if it returns", () => {
    const runtime = newRuntime();
    runtime.install(compiled(config()));
    expect(runtime.clusterTracker("c")).toBeDefined();
    runtime.install(compiled(config({ breaker: false })));
    // Without breaker or caps the cluster has no health of its own, but its tracker stays while it exists.
    expect(onlyRoute(runtime.install(compiled(config({ breaker: false })))).cluster.health).toBeNull();
    const renamed = compiled({
      clusters: { d: { targets: [{ url: A }], breaker: {} } },
      routes: [{ id: "r", match: { path: "/r/*" }, cluster: "d" }],
    });
    runtime.install(renamed);
    expect(runtime.clusterTracker("c")).toBeUndefined();
    expect(runtime.clusterTracker("d")).toBeDefined();
  });
});
