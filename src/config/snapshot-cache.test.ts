import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SnapshotCache, type SnapshotSource } from "./snapshot-cache.ts";
import { CONFIG_POINTER_KEY, configVersionKey, publishConfig } from "./store.ts";

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
