/**
 * Circuit breaking when things go wrong: upstreams that hang, refuse or reset; failures that are
 * not the upstream's (4xx, clients that leave); load shedding; a breaker object that stops
 * answering or is evicted; and bad admin calls.
 */

import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  type BackendMode,
  backendHits,
  breakerConfig,
  clusterStatus,
  freshClusterName,
  QUICK_BREAKER,
  setBackend,
  sleep,
  startBackends,
  targetState,
  traffic,
  until,
  warmBreakerObjects,
} from "../breaker-support.ts";
import { counterSum, gatewayCounters } from "../rate-limit-support.ts";
import { applyConfig, gateway } from "../support.ts";

beforeAll(warmBreakerObjects);

describe("circuit breaking: failing upstreams", () => {
  it.each<[BackendMode, number]>([
    ["hang", 502],
    ["refuse", 502],
    ["reset", 502],
  ])("ejects a target that starts to %s, and clients are then served by the others", async (mode) => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(
      breakerConfig(name, [a, b], { ...QUICK_BREAKER, baseEjectionSec: 60, maxEjectionSec: 120 }, { connectTimeoutMs: 200 }),
    );
    await setBackend(b, mode);
    const statuses: number[] = [];
    await until(
      async () => (await clusterStatus(name)).isolate?.targets[b.url]?.state === "open",
      async () => statuses.push(...(await traffic(name, 10, 5))),
    );
    // The failures clients saw are clean gateway errors, never a 500.
    expect(statuses.every((s) => s === 200 || s === 502 || s === 504)).toBe(true);
    expect((await targetState(name, b)).totals?.failures).toBeGreaterThan(0);
    expect(await traffic(name, 20, 5)).toEqual(Array(20).fill(200));
  });

  it("does not count upstream 4xx as failures", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b]));
    await setBackend(b, "not-found");
    const statuses = await traffic(name, 100, 5);
    expect(statuses.filter((s) => s === 404).length).toBeGreaterThanOrEqual(40);
    await sleep(150);
    await traffic(name, 2);
    const target = await targetState(name, b);
    expect(target.state).toBe("closed");
    expect(target.totals?.requests).toBeGreaterThanOrEqual(40);
    expect(target.totals?.failures).toBe(0);
  });

  it("does not count attempts whose client went away", async () => {
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [only]));
    await setBackend(only, "slow", 2_000);
    for (let i = 0; i < 10; i++) {
      const controller = new AbortController();
      const pending = gateway(`/${name}/item`, { signal: controller.signal }).catch(() => null);
      await sleep(50);
      controller.abort();
      await pending;
    }
    await setBackend(only, "ok");
    await sleep(2_100);
    await traffic(name, 3);
    await sleep(150);
    await traffic(name, 1);
    const target = await targetState(name, only);
    expect(target.state).toBe("closed");
    expect(target.totals?.failures).toBe(0);
  });
});

describe("load shedding", () => {
  it("answers 503 with Retry-After instead of queueing once a target has its maximum in flight", async () => {
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [only], null, { maxInFlightPerTarget: 3 }));
    await setBackend(only, "slow", 500);
    const responses = await Promise.all(Array.from({ length: 12 }, () => gateway(`/${name}/item`)));
    const shed = responses.filter((r) => r.status === 503);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(3);
    expect(shed).toHaveLength(9);
    for (const response of shed) {
      expect(response.headers.get("retry-after")).toBe("1");
      expect(((await response.json()) as { type: string }).type).toBe("urn:edgegate:problem:upstream-overloaded");
    }
    expect(await backendHits(only)).toBe(3);
    // Capacity comes back as the slow requests finish.
    expect(await traffic(name, 3, 3)).toEqual([200, 200, 200]);
  });

  it("caps a whole cluster's in-flight requests per isolate", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b], null, { maxInFlight: 4 }));
    await setBackend(a, "slow", 500);
    await setBackend(b, "slow", 500);
    const statuses = (await Promise.all(Array.from({ length: 10 }, () => gateway(`/${name}/item`)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.filter((s) => s === 503)).toHaveLength(6);
    expect((await backendHits(a)) + (await backendHits(b))).toBe(4);
  });
});

describe("breaker object faults", () => {
  it("keeps routing on its last view and its own outcomes while the object does not answer", async () => {
    const [a, b, c] = (await startBackends(3)) as [Backend, Backend, Backend];
    const name = freshClusterName();
    const breaker = { ...QUICK_BREAKER, objectTimeoutMs: 200, baseEjectionSec: 60, maxEjectionSec: 120, maxEjectionPercent: 100 };
    await applyConfig(breakerConfig(name, [a, b, c], breaker));
    // b is ejected through the object while it still answers.
    await setBackend(b, "error");
    await until(
      async () => (await clusterStatus(name)).isolate?.targets[b.url]?.state === "open",
      () => traffic(name, 10, 5),
    );

    // The object stops answering (an overloaded object looks the same from outside).
    const namespace = env.BREAKER as NonNullable<typeof env.BREAKER>;
    const stub = namespace.get(namespace.idFromName(name));
    const blocked = runInDurableObject(stub, (_instance, state) => state.blockConcurrencyWhile(() => sleep(6_000)));
    try {
      // Now c starts failing: only this isolate's own outcomes can tell.
      await setBackend(c, "error");
      const statuses: number[] = [];
      await until(
        async () => (await clusterStatus(name)).isolate?.targets[c.url]?.state === "open",
        async () => statuses.push(...(await traffic(name, 10, 5))),
        5_000,
      );
      const isolate = (await clusterStatus(name)).isolate;
      expect(isolate?.mode).toBe("degraded");
      // The object's last word on b still holds.
      expect(isolate?.targets[b.url]?.state).toBe("open");
      expect(statuses.every((s) => s === 200 || s === 500)).toBe(true);
      const [hitsB, hitsC] = [await backendHits(b), await backendHits(c)];
      expect(await traffic(name, 20, 5)).toEqual(Array(20).fill(200));
      expect([await backendHits(b), await backendHits(c)]).toEqual([hitsB, hitsC]);
      expect(counterSum(await gatewayCounters(), `breaker_reports_total{cluster="${name}",outcome="failed"}`)).toBeGreaterThan(0);
    } finally {
      await blocked;
    }
    // Back in touch, the isolate follows the object again.
    await until(
      async () => (await clusterStatus(name)).isolate?.mode === "object",
      () => traffic(name, 5, 5),
      5_000,
    );
  });

  it("keeps the breaker state through the object's eviction", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b], { ...QUICK_BREAKER, baseEjectionSec: 60, maxEjectionSec: 120 }));
    await setBackend(b, "error");
    await until(
      async () => (await targetState(name, b)).state === "open",
      () => traffic(name, 10, 5),
    );
    const before = await targetState(name, b);

    const namespace = env.BREAKER as NonNullable<typeof env.BREAKER>;
    await evictDurableObject(namespace.get(namespace.idFromName(name)));
    const after = await targetState(name, b);
    expect(after.state).toBe("open");
    expect(after.retryAt).toBe(before.retryAt);
    expect(after.totals).toEqual(before.totals);
  });
});

describe("cluster admin endpoint", () => {
  it("needs the admin token, and names a missing cluster with a 404 problem", async () => {
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [only]));
    const anonymous = await gateway(`/__gateway/admin/clusters/${name}`);
    expect(anonymous.status).toBe(401);
    const wrong = await gateway(`/__gateway/admin/clusters/${name}`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    const missing = await gateway("/__gateway/admin/clusters/no-such-cluster", { headers: { authorization: "Bearer test-admin-token" } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    expect(((await missing.json()) as { type: string }).type).toBe("urn:edgegate:problem:cluster-not-found");
  });

  it("shows every target with its state, score and counts", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b]));
    await traffic(name, 20, 5);
    await sleep(150);
    await traffic(name, 2);
    const status = await clusterStatus(name);
    expect(status.targets.map((t) => t.url)).toEqual([a.url, b.url]);
    for (const target of status.targets) {
      expect(target.state).toBe("closed");
      expect(target.totals?.requests).toBeGreaterThan(0);
      expect(typeof target.score).toBe("number");
    }
    expect(status.isolate?.mode).toBe("object");
  });

  it("says so for a cluster without a breaker", async () => {
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [only], null));
    const status = await clusterStatus(name);
    expect(status.sharedStateUnavailable).toBe("the cluster has no breaker");
    expect(status.targets).toEqual([{ url: only.url }]);
  });
});

describe("config publishes with requests in flight", () => {
  /** Starts `n` requests to the cluster's route and resolves once all of them reached a backend. */
  async function inFlight(name: string, backends: Backend[], n: number): Promise<Promise<number>[]> {
    const hits = async () => (await Promise.all(backends.map(backendHits))).reduce((sum, h) => sum + h, 0);
    const before = await hits();
    const requests = Array.from({ length: n }, async () => {
      const response = await gateway(`/${name}/item`);
      await response.body?.cancel();
      return response.status;
    });
    await until(
      async () => (await hits()) >= before + n,
      () => sleep(10),
      5_000,
    );
    return requests;
  }

  /** Every target the isolate knows is closed with nothing in flight, and no removed one lingers. */
  async function expectSettled(name: string, backends: Backend[]): Promise<void> {
    const isolate = (await clusterStatus(name)).isolate;
    expect(Object.keys(isolate?.targets ?? {})).toEqual(backends.map((b) => b.url));
    for (const target of Object.values(isolate?.targets ?? {})) expect(target).toMatchObject({ state: "closed", inFlight: 0 });
    expect(isolate?.inFlight).toBe(0);
    expect(isolate?.retiring).toBeUndefined();
  }

  it("a publish that removes targets answers the requests still on them, and every remaining target takes its share", async () => {
    const [a, b, c] = (await startBackends(3)) as [Backend, Backend, Backend];
    const name = freshClusterName();
    const caps = { maxInFlightPerTarget: 3 };
    await applyConfig(breakerConfig(name, [a, b, c], QUICK_BREAKER, caps));
    for (const backend of [a, b, c]) await setBackend(backend, "slow", 1_500);
    const before = await inFlight(name, [a, b, c], 6);

    // Requests of the new version join those of the old one on the targets both list.
    await applyConfig(breakerConfig(name, [b, c], QUICK_BREAKER, caps));
    const after = await inFlight(name, [a, b, c], 2);
    expect(await Promise.all([...before, ...after])).toEqual(Array(8).fill(200));
    await expectSettled(name, [b, c]);
    // Both targets take their full cap at once: nothing is left counted against them.
    for (const backend of [b, c]) await setBackend(backend, "slow", 300);
    expect(await traffic(name, 6, 6)).toEqual(Array(6).fill(200));
  });

  it("a publish that reorders targets ends each request on its own target, so none stays at its cap", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    const caps = { maxInFlightPerTarget: 1 };
    await applyConfig(breakerConfig(name, [a, b], QUICK_BREAKER, caps));
    for (const backend of [a, b]) await setBackend(backend, "slow", 1_500);
    const before = await inFlight(name, [a, b], 1);

    await applyConfig(breakerConfig(name, [b, a], QUICK_BREAKER, caps));
    const after = await inFlight(name, [a, b], 1);
    expect(await Promise.all([...before, ...after])).toEqual([200, 200]);
    await expectSettled(name, [b, a]);
    for (const backend of [a, b]) await setBackend(backend, "slow", 300);
    expect(await traffic(name, 2, 2)).toEqual([200, 200]);
  });
});
