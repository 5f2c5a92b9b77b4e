/**
 * Circuit breaking against real upstreams: ejection of a failing target, no traffic while it is
 * out, probing and restoration, backoff against flapping, the cluster-wide probe bound, the
 * all-down fast path, and one isolate's reports steering another through the cluster's object.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { compileConfig } from "../../src/config/compile.ts";
import { parseConfig } from "../../src/config/schema.ts";
import type { BreakerSettings } from "../../src/lib/breaker/state.ts";
import { ClusterHealth } from "../../src/services/breaker/cluster-health.ts";
import {
  type Backend,
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
import { applyConfig, gateway } from "../support.ts";

beforeAll(warmBreakerObjects);

/** Drives traffic until the gateway's own view has `backend` in `state`. */
async function untilIsolateSees(name: string, backend: Backend, state: string, timeoutMs = 15_000): Promise<number> {
  return until(
    async () => (await clusterStatus(name)).isolate?.targets[backend.url]?.state === state,
    () => traffic(name, 10, 5),
    timeoutMs,
  );
}

describe("circuit breaking", () => {
  it("ejects a target that starts failing within a bounded time and number of requests, and sends it nothing while open", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b], { ...QUICK_BREAKER, baseEjectionSec: 60, maxEjectionSec: 120 }));
    expect(await traffic(name, 20, 5)).toEqual(Array(20).fill(200));

    await setBackend(b, "error");
    const started = Date.now();
    const steps = await untilIsolateSees(name, b, "open");
    // Each step is 10 requests; with a 1 s half-life the failure rate passes 50% within about a second.
    expect(steps * 10).toBeLessThanOrEqual(400);
    expect(Date.now() - started).toBeLessThan(10_000);

    const shared = await targetState(name, b);
    expect(shared.state).toBe("open");
    expect(shared.totals?.ejections).toBe(1);
    expect(shared.score).toBeGreaterThanOrEqual(0.7);
    expect((await targetState(name, a)).state).toBe("closed");

    const hitsWhenOpen = await backendHits(b);
    expect(await traffic(name, 50, 5)).toEqual(Array(50).fill(200));
    expect(await backendHits(b)).toBe(hitsWhenOpen);
  });

  it("probes an ejected target once its time is up and restores it after enough good probes", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b]));
    await setBackend(b, "error");
    await untilIsolateSees(name, b, "open");

    await setBackend(b, "ok");
    const hitsBefore = await backendHits(b);
    await until(
      async () => (await targetState(name, b)).state === "closed",
      () => traffic(name, 10, 5),
    );
    const restored = await targetState(name, b);
    expect(restored.totals?.probes).toBeGreaterThanOrEqual(QUICK_BREAKER.probeSuccesses as number);
    expect(restored.score).toBeNull(); // a clean slate: its ejection-era numbers are gone

    await untilIsolateSees(name, b, "closed");
    const hitsRestored = await backendHits(b);
    expect(hitsRestored).toBeGreaterThan(hitsBefore);
    expect(await traffic(name, 40, 5)).toEqual(Array(40).fill(200));
    // Back in rotation: about half the traffic again.
    expect((await backendHits(b)) - hitsRestored).toBeGreaterThanOrEqual(10);
  });

  it("backs off a target that alternates between good and bad instead of flapping every second", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a, b]));
    let flipping = true;
    // Bad for 600 ms, good for 600 ms, over and over: good enough to pass probes, bad enough to be ejected again.
    const flipper = (async () => {
      for (let bad = true; flipping; bad = !bad) {
        await setBackend(b, bad ? "error" : "ok");
        await sleep(600);
      }
    })();

    const openings: { at: number; until: number }[] = [];
    const deadline = Date.now() + 12_000;
    while (Date.now() < deadline) {
      await traffic(name, 10, 5);
      const target = await targetState(name, b);
      const retryAt = target.retryAt ? Date.parse(target.retryAt) : null;
      if (target.state === "open" && retryAt !== null && openings.at(-1)?.until !== retryAt)
        openings.push({ at: Date.now(), until: retryAt });
    }
    flipping = false;
    await flipper;

    // Each ejection lasts base x ejections (1 s, 2 s, 3 s, ...): in 12 s that is at most 5 ejections,
    // where a breaker without backoff would re-eject every 1-2 s.
    const ejections = (await targetState(name, b)).totals?.ejections ?? 0;
    expect(ejections).toBeGreaterThanOrEqual(2);
    expect(ejections).toBeLessThanOrEqual(5);
    // Without backoff no ejection would outlast the 1 s base; with it, a repeat offender's do.
    const longest = Math.max(...openings.map((o) => o.until - o.at));
    expect(longest).toBeGreaterThanOrEqual(1_600);
  });

  it("sends at most the configured number of probes to a half-open target, across isolates, under 100 concurrent requests", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    const breaker = { ...QUICK_BREAKER, probes: 3 };
    // The probes take 4 s; the connect timeout leaves them room on a loaded machine (it is not what this tests).
    const cluster = { connectTimeoutMs: 15_000 };
    await applyConfig(breakerConfig(name, [a, b], breaker, cluster));
    await setBackend(b, "error");
    await untilIsolateSees(name, b, "open");
    // Healthy again but slow: probes stay in flight for the whole burst, holding their leases.
    await setBackend(b, "slow", 4_000);
    const retryAt = Date.parse((await targetState(name, b)).retryAt as string);
    await sleep(Math.max(0, retryAt - Date.now()) + 50);

    // Another isolate takes one of the three leases first.
    const config = parseConfig(breakerConfig(name, [a, b], breaker, cluster), { allowPrivateUpstreams: true });
    if (!config.ok) throw new Error("config");
    const settings = compileConfig(config.config, "other").clusters.get(name)?.breaker as BreakerSettings;
    const namespace = env.BREAKER as NonNullable<typeof env.BREAKER>;
    const other = await namespace
      .get(namespace.idFromName(name))
      .report({ settings, members: [a.url, b.url], targets: {}, wants: [b.url] });
    expect(other.grants[b.url]).toHaveLength(1);

    const hitsBefore = await backendHits(b);
    // Six waves of 100 concurrent requests, 150 ms apart, all within the 4 s the probes take: none
    // of them can have closed the target, so every hit on b is a probe.
    const started = Date.now();
    const waves: Promise<number[]>[] = [];
    for (let wave = 0; wave < 6; wave++) {
      waves.push(traffic(name, 100, 100));
      await sleep(150);
    }
    // On a loaded machine the isolate's lease for b may come only after the waves: traffic goes on,
    // lighter, until a probe has arrived, and the probes are counted while all of them are still in
    // flight (under the 4 s they take).
    let probesSent = (await backendHits(b)) - hitsBefore;
    while (probesSent === 0 && Date.now() - started < 3_000) {
      waves.push(traffic(name, 10, 10));
      await sleep(150);
      probesSent = (await backendHits(b)) - hitsBefore;
    }
    const statuses = (await Promise.all(waves)).flat();
    // Every request is answered (by the healthy target or, slowly, by a probe) and never refused.
    expect(statuses).toEqual(Array(statuses.length).fill(200));
    expect(statuses.length).toBeGreaterThanOrEqual(600);
    expect(probesSent).toBeGreaterThanOrEqual(1);
    expect(probesSent).toBeLessThanOrEqual(breaker.probes - 1);
  });

  it("answers 503 with Retry-After and no upstream call when every target is ejected", async () => {
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(
      breakerConfig(name, [only], { ...QUICK_BREAKER, baseEjectionSec: 60, maxEjectionSec: 120 }, { connectTimeoutMs: 10_000 }),
    );
    await setBackend(only, "error");
    await untilIsolateSees(name, only, "open");

    // A hanging upstream would hold each request for 10 s: an answer within 2 s proves it was never asked.
    await setBackend(only, "hang");
    const hits = await backendHits(only);
    const responses = await Promise.race([
      Promise.all(Array.from({ length: 20 }, () => gateway(`/${name}/item`))),
      sleep(2_000).then(() => null),
    ]);
    expect(responses).not.toBeNull();
    for (const response of responses ?? []) {
      expect(response.status).toBe(503);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(50);
      const body = (await response.json()) as { type: string; requestId: string };
      expect(body.type).toBe("urn:edgegate:problem:no-healthy-upstream");
      expect(JSON.stringify(body)).not.toContain("127.0.0.1");
    }
    expect(await backendHits(only)).toBe(hits);
  });

  it("routes around a target another isolate reported failing, through the cluster's object", async () => {
    const [a, b] = (await startBackends(2)) as [Backend, Backend];
    const name = freshClusterName();
    const input = breakerConfig(name, [a, b], { ...QUICK_BREAKER, baseEjectionSec: 60, maxEjectionSec: 120 });
    await applyConfig(input);
    expect(await traffic(name, 10, 5)).toEqual(Array(10).fill(200));
    expect(await backendHits(b)).toBeGreaterThan(0);

    // The other isolate: its own compiled config and health tracker, reporting to the same object.
    // It saw b fail; this gateway has seen b answer fine.
    const parsed = parseConfig(input, { allowPrivateUpstreams: true });
    if (!parsed.ok) throw new Error("config");
    const cluster = compileConfig(parsed.config, "other").clusters.get(name);
    if (!cluster) throw new Error("cluster");
    const other = new ClusterHealth(cluster);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      other.begin(1);
      other.end(1, null, "failure", 3);
    }
    other.maybeReport(Date.now(), env.BREAKER, (work) => pending.push(work));
    await Promise.all(pending);
    expect(other.snapshot(Date.now()).targets[b.url]?.state).toBe("open");

    await untilIsolateSees(name, b, "open", 5_000);
    const hits = await backendHits(b);
    expect(await traffic(name, 30, 5)).toEqual(Array(30).fill(200));
    expect(await backendHits(b)).toBe(hits);
  });
});
