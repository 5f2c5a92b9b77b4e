/**
 * When the one shared call fails, every caller that waited on it gets a clean error of its own, and
 * the upstream's health counts the failure once.
 */
import { describe, expect, it } from "vitest";
import {
  type Backend,
  breakerConfig,
  freshClusterName,
  QUICK_BREAKER,
  setBackend,
  sleep,
  startBackends,
  targetState,
  until,
  warmBreakerObjects,
} from "../breaker-support.ts";
import { burst, coalesceCounters, coalescingRoute, freshKey, freshRouteId } from "../coalesce-support.ts";
import { applyConfig, expectProblem, gateway, originHits } from "../support.ts";

/** Every caller got the same clean problem, each with its own request id. */
async function expectProblems(responses: Response[], status: number, code: string): Promise<void> {
  const ids = new Set<string>();
  for (const response of responses) ids.add((await expectProblem(response, status, code)).requestId);
  expect(ids.size).toBe(responses.length);
}

describe("coalescing: failures", () => {
  it("gives every follower of a leader whose upstream reset the connection a 502 problem", async () => {
    const id = freshRouteId();
    await coalescingRoute(id);
    const key = freshKey();
    const responses = await burst(30, `/coalesce?key=${key}&ms=200&fail=reset`);
    await expectProblems(responses, 502, "upstream-unavailable");
    expect(await originHits(key)).toBe(1);
    expect((await coalesceCounters(id))['coalesce_calls_total{outcome="failed"}']).toBe(1);
  });

  it("gives every follower of a leader that timed out a 504 problem, within the route's deadline", async () => {
    await coalescingRoute(freshRouteId(), {}, { timeoutMs: 500 });
    const key = freshKey();
    const started = Date.now();
    const responses = await burst(30, `/coalesce?key=${key}&fail=hang`);
    expect(Date.now() - started).toBeLessThan(3_000);
    await expectProblems(responses, 504, "upstream-timeout");
    expect(await originHits(key)).toBe(1);
  });

  it("finishes the shared call for the followers when the leader's client goes away", async () => {
    const id = freshRouteId();
    await coalescingRoute(id);
    const key = freshKey();
    const path = `/coalesce?key=${key}&ms=400`;
    const controller = new AbortController();
    const leader = gateway(path, { signal: controller.signal }).catch(() => null);
    await sleep(50);
    const followers = burst(20, path);
    await sleep(50);
    controller.abort();
    await leader;
    const responses = await followers;
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const hits = await Promise.all(responses.map(async (r) => ((await r.json()) as { hit: number }).hit));
    expect(hits).toEqual(Array(20).fill(1));
    expect(await originHits(key)).toBe(1);
  });

  it("bounds a follower's wait by the route's timeout: a 504, not a hang, while the leader still gets its answer", async () => {
    const id = freshRouteId();
    // Headers arrive in time, but the body trickles for a second: the leader is still buffering it
    // when the follower's wait runs out.
    await coalescingRoute(id, {}, { timeoutMs: 300 });
    const path = "/trickle?chunks=10&intervalMs=100";
    const leader = gateway(path);
    await sleep(30);
    const started = Date.now();
    const follower = await gateway(path);
    expect(Date.now() - started).toBeLessThan(900);
    await expectProblems([follower], 504, "upstream-timeout");
    const answer = await leader;
    expect(answer.status).toBe(200);
    expect(await answer.text()).toContain("chunk 9");
    expect((await coalesceCounters(id)).coalesce_follower_timeouts_total).toBe(1);
  });
});

describe("coalescing and the breaker", () => {
  it("counts a failing shared call as one failure, not one per caller", async () => {
    await warmBreakerObjects();
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    const config = breakerConfig(name, [only], { ...QUICK_BREAKER, minRequests: 1000 });
    Object.assign(config.routes[0] as object, { coalesce: {}, timeoutMs: 400 });
    await applyConfig(config);
    await gateway(`/${name}/item`).then((r) => r.text());
    await setBackend(only, "hang");
    const responses = await burst(40, `/${name}/item`);
    await expectProblems(responses, 504, "upstream-timeout");
    await setBackend(only, "ok");
    await until(
      async () => ((await targetState(name, only)).totals?.requests ?? 0) >= 3,
      async () => {
        await sleep(120);
        await gateway(`/${name}/item`).then((r) => r.text());
      },
    );
    const target = await targetState(name, only);
    // The burst was one upstream attempt: one failure, never forty.
    expect(target.totals?.failures).toBe(1);
    expect(target.totals?.requests).toBeLessThan(10);
  });
});
