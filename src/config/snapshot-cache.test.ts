import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MemoryConfigKv } from "../../test/config-kv.ts";
import { seeded } from "../../test/seeded.ts";
import type { LogLine } from "../lib/log.ts";
import { SnapshotCache, type SnapshotSource } from "./snapshot-cache.ts";
import { CONFIG_POINTER_KEY, configVersionKey, POINTER_CACHE_TTL_SECONDS, publishConfig } from "./store.ts";

const validation = { allowPrivateUpstreams: false };
const config = (path: string) => ({
  clusters: { c: { targets: [{ url: "https://c.example.com" }] } },
  routes: [{ id: "r", match: { path }, cluster: "c" }],
});

function harness(refreshIntervalMs = 1_000) {
  let now = 1_000_000;
  const events: Record<string, unknown>[] = [];
  const cache = new SnapshotCache(
    () => now,
    (e) => events.push(e),
  );
  const background: Promise<unknown>[] = [];
  const source: SnapshotSource = { kv: env.CONFIG, validation, refreshIntervalMs };
  return {
    cache,
    events,
    get: () => cache.get(source, (p) => background.push(p)),
    settle: () => Promise.all(background.splice(0)),
    advance: (ms: number) => (now += ms),
  };
}

describe("SnapshotCache (real KV)", () => {
  it("loads on a cold isolate, then serves from memory and refreshes in the background", async () => {
    const first = await publishConfig(env.CONFIG, config("/one"), validation);
    const h = harness();
    const snapshot = await h.get();
    expect(first.ok && snapshot?.version).toBe(first.ok && first.version);

    const second = await publishConfig(env.CONFIG, config("/two"), validation);
    // Within the interval: no KV check at all, the same snapshot.
    expect(await h.get()).toBe(snapshot);
    await h.settle();
    expect(h.cache.status().snapshot).toBe(snapshot);

    // After it: the request still gets the old snapshot; the swap happens in the background.
    h.advance(1_000);
    expect(await h.get()).toBe(snapshot);
    await h.settle();
    const swapped = h.cache.status().snapshot;
    expect(second.ok && swapped?.version).toBe(second.ok && second.version);
    expect(swapped?.table.lookup("h", "GET", "/two").kind).toBe("matched");
    // The old snapshot is untouched for requests that still hold it.
    expect(snapshot?.table.lookup("h", "GET", "/one").kind).toBe("matched");
  });

  it("shares one load among concurrent requests on a cold isolate", async () => {
    await publishConfig(env.CONFIG, config("/cold"), validation);
    const h = harness();
    const snapshots = await Promise.all(Array.from({ length: 50 }, () => h.get()));
    expect(new Set(snapshots).size).toBe(1);
    expect(snapshots[0]?.table.lookup("h", "GET", "/cold").kind).toBe("matched");
    expect(h.events.filter((e) => e.event === "config.loaded")).toHaveLength(1);
  });

  it("never replaces a good snapshot with an invalid or missing one", async () => {
    await publishConfig(env.CONFIG, config("/good"), validation);
    const h = harness();
    const good = await h.get();
    await env.CONFIG.put(configVersionKey("broken"), "{ not json");
    await env.CONFIG.put(CONFIG_POINTER_KEY, "broken");
    h.advance(1_000);
    await h.get();
    await h.settle();
    expect(h.cache.status().snapshot).toBe(good);
    expect(h.events.at(-1)).toMatchObject({ event: "config.invalid", version: "broken" });

    await env.CONFIG.put(configVersionKey("bad-schema"), JSON.stringify({ clusters: {}, routes: [{ id: "x" }] }));
    await env.CONFIG.put(CONFIG_POINTER_KEY, "bad-schema");
    h.advance(1_000);
    await h.get();
    await h.settle();
    expect(h.cache.status().snapshot).toBe(good);

    await env.CONFIG.delete(CONFIG_POINTER_KEY);
    h.advance(1_000);
    await h.get();
    await h.settle();
    expect(h.cache.status()).toEqual({ snapshot: good, state: "loaded" });
  });

  it("reports a cold isolate with no config as missing and does not re-read KV within the interval", async () => {
    await env.CONFIG.delete(CONFIG_POINTER_KEY);
    const h = harness();
    expect(await h.get()).toBeUndefined();
    expect(h.cache.status().state).toBe("missing");
    await publishConfig(env.CONFIG, config("/late"), validation);
    expect(await h.get()).toBeUndefined();
    h.advance(1_000);
    expect((await h.get())?.routeCount).toBe(1);
  });

  it("refuses an invalid config on write and leaves KV untouched", async () => {
    const before = await env.CONFIG.get(CONFIG_POINTER_KEY);
    const result = await publishConfig(
      env.CONFIG,
      { clusters: {}, routes: [{ id: "r", match: { path: "/x" }, cluster: "nope" }] },
      validation,
    );
    expect(result).toEqual({ ok: false, issues: [{ path: "routes[0].cluster", message: expect.stringContaining("not defined") }] });
    expect(await env.CONFIG.get(CONFIG_POINTER_KEY)).toBe(before);
  });
});

const INTERVAL_MS = 1_000;

/** A cache on a controlled clock over KV in memory, with the test deciding when KV answers. */
function boundHarness(staleWaitMs = 20) {
  let now = 5_000_000;
  const kv = new MemoryConfigKv();
  const lines: LogLine[] = [];
  const cache = new SnapshotCache(
    () => now,
    (line) => lines.push(line),
    undefined,
    { staleWaitMs },
  );
  const background: Promise<unknown>[] = [];
  const source: SnapshotSource = { kv, validation, refreshIntervalMs: INTERVAL_MS };
  const request = async () => (await cache.serve(source, (p) => background.push(p)))?.snapshot.version;
  return {
    kv,
    lines,
    now: () => now,
    advance: (ms: number) => (now += ms),
    request,
    /** Background checks run to their end (the clock does not move meanwhile). */
    settle: () => Promise.all(background.splice(0)),
    /**
     * A request made while KV reads are held: whether it was served without waiting for KV, and
     * the version it was served once KV answered.
     */
    async requestWithKvHeld(): Promise<{ waited: boolean; version: string | undefined }> {
      kv.hold();
      const served = request();
      const waited = await Promise.race([served.then(() => false), new Promise<boolean>((resolve) => setTimeout(resolve, 0, true))]);
      kv.release();
      const version = await served;
      await Promise.all(background.splice(0));
      return { waited, version };
    },
    stale: () => lines.filter((line) => line.event === "config.stale"),
  };
}

describe("SnapshotCache: how old a served version can be (KV in memory, controlled clock)", () => {
  it.each([0.9, 1.9])("never makes a request wait for KV under traffic every %s intervals", async (gap) => {
    const h = boundHarness();
    await h.kv.publish(config("/zero"));
    await h.request();
    await h.settle();
    let published: { version: string; at: number } | undefined;
    for (let i = 1; i <= 30; i++) {
      h.advance(gap * INTERVAL_MS);
      if (i === 10) published = { version: await h.kv.publish(config("/one")), at: h.now() };
      const { waited, version } = await h.requestWithKvHeld();
      expect(waited).toBe(false);
      // In the background: served from the first request that finds a check answered after the publish.
      if (published && h.now() >= published.at + (gap + 1) * INTERVAL_MS) expect(version).toBe(published.version);
    }
  });

  it("serves the first request after an idle gap with the version KV has now, not the one it had", async () => {
    const h = boundHarness();
    const before = await h.kv.publish(config("/before"));
    expect(await h.request()).toBe(before);
    await h.settle();
    const after = await h.kv.publish(config("/after"));
    h.advance(60 * 60 * 1000);
    expect(await h.requestWithKvHeld()).toEqual({ waited: true, version: after });
    expect(h.stale()).toEqual([]);
  });

  it("never serves a version older than the one KV held two intervals before the request, whatever the traffic", async () => {
    const random = seeded(20261201);
    const h = boundHarness();
    const history = [{ at: h.now(), version: await h.kv.publish(config("/p0")) }];
    await h.request();
    await h.settle();
    let waits = 0;
    for (let i = 1; i <= 200; i++) {
      // Gaps from none to four intervals: steady traffic and idle gaps, mixed.
      const gap = Math.floor(random() * 4 * INTERVAL_MS);
      h.advance(gap);
      if (random() < 0.25) history.push({ at: h.now(), version: await h.kv.publish(config(`/p${i}`)) });
      const { waited, version } = await h.requestWithKvHeld();
      if (waited) waits++;
      const served = history.findIndex((entry) => entry.version === version);
      const bound = history.findLastIndex((entry) => entry.at <= h.now() - 2 * INTERVAL_MS);
      expect(served).toBeGreaterThanOrEqual(bound);
      // Only a request whose last check is more than two intervals old waits.
      if (gap <= INTERVAL_MS) expect(waited).toBe(false);
    }
    expect(waits).toBeGreaterThan(0);
    expect(h.stale()).toEqual([]);
  });

  it("waits at most staleWaitMs for a slow check, serves what it has, and says so once", async () => {
    const h = boundHarness(30);
    const old = await h.kv.publish(config("/old"));
    await h.request();
    await h.settle();
    const next = await h.kv.publish(config("/next"));
    h.advance(3 * INTERVAL_MS);
    h.kv.hold();
    const started = performance.now();
    expect(await h.request()).toBe(old);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(h.stale()).toEqual([
      { level: "warn", event: "config.stale", version: old, lastCheckAgoMs: 3 * INTERVAL_MS, reason: "check-slow" },
    ]);
    // The same stalled check: the next request does not wait for it again, and nothing more is said.
    h.advance(10);
    const again = h.request();
    expect(await Promise.race([again.then(() => "served"), new Promise((resolve) => setTimeout(resolve, 10, "waiting"))])).toBe("served");
    expect(h.stale()).toHaveLength(1);
    h.kv.release();
    await h.settle();
    expect(await h.request()).toBe(next);
    // A check answered ends the episode: the next slow one is said again.
    h.advance(3 * INTERVAL_MS);
    h.kv.hold();
    await h.request();
    h.kv.release();
    await h.settle();
    expect(h.stale()).toHaveLength(2);
  });

  it("says once that KV failed while serving what it has, and waits for no check that is not due", async () => {
    const h = boundHarness();
    const good = await h.kv.publish(config("/good"));
    await h.request();
    await h.settle();
    h.kv.failing = true;
    h.advance(3 * INTERVAL_MS);
    expect(await h.request()).toBe(good);
    await h.settle();
    expect(h.stale()).toEqual([
      { level: "warn", event: "config.stale", version: good, lastCheckAgoMs: 3 * INTERVAL_MS, reason: "check-failed" },
    ]);
    expect(h.lines.filter((line) => line.event === "config.unreachable")).toHaveLength(1);
    // Within the interval after the failed check: none in flight, none due, no wait, no new line.
    h.advance(INTERVAL_MS / 2);
    expect(await h.requestWithKvHeld()).toEqual({ waited: false, version: good });
    expect(h.stale()).toHaveLength(1);
    h.kv.failing = false;
    const recovered = await h.kv.publish(config("/recovered"));
    h.advance(INTERVAL_MS);
    expect(await h.requestWithKvHeld()).toEqual({ waited: true, version: recovered });
  });

  it("reads the pointer with KV's shortest cacheTtl, which the documented bound counts on", async () => {
    const h = boundHarness();
    await h.kv.publish(config("/ttl"));
    await h.request();
    h.advance(3 * INTERVAL_MS);
    await h.request();
    await h.settle();
    const pointerReads = h.kv.reads.filter((read) => read.key === CONFIG_POINTER_KEY);
    expect(pointerReads.length).toBe(2);
    expect(pointerReads.every((read) => read.cacheTtl === POINTER_CACHE_TTL_SECONDS)).toBe(true);
    expect(POINTER_CACHE_TTL_SECONDS).toBe(30);
  });
});
