/**
 * SnapshotCache.adopt: the isolate that carried out a publish, edit or rollback installs that
 * version from the publisher's answer, and never an older one over a newer one, whatever order
 * the answers and KV's (lagging) reads come in. KV in memory, on a controlled clock.
 */
import { describe, expect, it } from "vitest";
import { MemoryConfigKv } from "../../test/config-kv.ts";
import type { LogLine } from "../lib/log.ts";
import { REPLACED_HOLD_MS, SnapshotCache, type SnapshotSource } from "./snapshot-cache.ts";

const validation = { allowPrivateUpstreams: false };
const config = (path: string) => ({
  clusters: { c: { targets: [{ url: "https://c.example.com" }] } },
  routes: [{ id: "r", match: { path }, cluster: "c" }],
});

/** Checks come due once an hour: only the test's own `check()` reads KV. */
function harness(refreshIntervalMs = 60 * 60 * 1000) {
  let now = 5_000_000;
  const kv = new MemoryConfigKv();
  const lines: LogLine[] = [];
  const cache = new SnapshotCache(
    () => now,
    (line) => lines.push(line),
  );
  const source: SnapshotSource = { kv, validation, refreshIntervalMs };
  const background: Promise<unknown>[] = [];
  return {
    kv,
    cache,
    lines,
    advance: (ms: number) => (now += ms),
    /** A request's version, with background work left running. */
    serve: async () => (await cache.serve(source, (p) => background.push(p)))?.snapshot.version,
    settle: () => Promise.all(background.splice(0)),
    /** A request's version, once its background work is done. */
    request: async () => {
      const version = (await cache.serve(source, (p) => background.push(p)))?.snapshot.version;
      await Promise.all(background.splice(0));
      return version;
    },
    /** One check of KV, as the interval would start it. */
    check: () => cache.refresh(source),
    loaded: () => lines.filter((line) => line.event === "config.loaded"),
  };
}

/** What the publisher does: the version stored, then the pointer moved; KV here may not show the pointer yet. */
async function publishAt(kv: MemoryConfigKv, path: string, options: { pointer: boolean }) {
  const document = config(path);
  const version = await kv.store(document);
  if (options.pointer) kv.point(version);
  return { version, document };
}

describe("SnapshotCache.adopt", () => {
  it("installs a published version for the isolate's next request, without reading KV", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    expect(await h.request()).toBe(v0);
    const ticket = h.cache.publishTicket();
    const v1 = await publishAt(h.kv, "/one", { pointer: true });
    const reads = h.kv.reads.length;
    expect(h.cache.adopt(ticket, { ...v1, previous: v0, sequence: 1 }, validation)).toBe("installed");
    expect(await h.request()).toBe(v1.version);
    expect(h.cache.status().snapshot?.table.lookup("h", "GET", "/one").kind).toBe("matched");
    expect(h.kv.reads.length).toBe(reads);
    expect(h.loaded().at(-1)).toEqual({ level: "info", event: "config.loaded", version: v1.version, routes: 1, source: "publish" });
  });

  it("does not bring back the version it replaced while KV still names it, and follows KV once KV has caught up", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const v1 = await publishAt(h.kv, "/one", { pointer: false });
    h.cache.adopt(h.cache.publishTicket(), { ...v1, previous: v0, sequence: 1 }, validation);
    const reads = h.kv.reads.length;
    await h.check();
    expect(await h.request()).toBe(v1.version);
    // Only the pointer was read: the replaced version's document is not fetched again.
    expect(h.kv.reads.slice(reads).map((read) => read.key)).toEqual(["config/current"]);
    h.kv.point(v1.version);
    await h.check();
    expect(await h.request()).toBe(v1.version);
    // KV has caught up; a move back that KV shows now is someone's rollback, and is followed.
    h.kv.point(v0);
    await h.check();
    expect(await h.request()).toBe(v0);
  });

  it("believes KV again REPLACED_HOLD_MS after the publish, if KV never showed it", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const v1 = await publishAt(h.kv, "/one", { pointer: false });
    h.cache.adopt(h.cache.publishTicket(), { ...v1, previous: v0, sequence: 1 }, validation);
    h.advance(REPLACED_HOLD_MS - 1);
    await h.check();
    expect(await h.request()).toBe(v1.version);
    h.advance(1);
    await h.check();
    expect(await h.request()).toBe(v0);
    expect(REPLACED_HOLD_MS).toBe(60_000);
  });

  it("installs the later of two publishes whose answers arrive in the other order", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const first = h.cache.publishTicket();
    const second = h.cache.publishTicket();
    const v1 = await publishAt(h.kv, "/one", { pointer: true });
    const v2 = await publishAt(h.kv, "/two", { pointer: true });
    expect(h.cache.adopt(second, { ...v2, previous: v1.version, sequence: 8 }, validation)).toBe("installed");
    expect(h.cache.adopt(first, { ...v1, previous: v0, sequence: 7 }, validation)).toBe("superseded");
    expect(await h.request()).toBe(v2.version);
    // Neither comes back from a lagging KV.
    for (const lagging of [v0, v1.version]) {
      h.kv.point(lagging);
      await h.check();
      expect(await h.request()).toBe(v2.version);
    }
  });

  it("installs a rollback through this isolate to the version its own publish replaced", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const v1 = await publishAt(h.kv, "/one", { pointer: false });
    h.cache.adopt(h.cache.publishTicket(), { ...v1, previous: v0, sequence: 1 }, validation);
    expect(
      h.cache.adopt(h.cache.publishTicket(), { version: v0, previous: v1.version, sequence: 2, document: config("/zero") }, validation),
    ).toBe("installed");
    expect(await h.request()).toBe(v0);
    // KV showing the publish the rollback undid is behind, not ahead.
    h.kv.point(v1.version);
    await h.check();
    expect(await h.request()).toBe(v0);
  });

  it("leaves it to the checks when KV installed another version while the publish ran", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const ticket = h.cache.publishTicket();
    const v1 = await publishAt(h.kv, "/one", { pointer: false });
    // Meanwhile a check finds a version published after it, by another isolate.
    const later = await h.kv.publish(config("/later"));
    await h.check();
    expect(h.cache.adopt(ticket, { ...v1, previous: v0, sequence: 1 }, validation)).toBe("superseded");
    expect(await h.request()).toBe(later);
  });

  it("keeps a first publish while KV does not show any pointer yet, without calling the config missing", async () => {
    const h = harness(0);
    expect(await h.request()).toBeUndefined();
    expect(h.lines.filter((line) => line.event === "config.missing")).toHaveLength(1);
    const v1 = await publishAt(h.kv, "/first", { pointer: false });
    expect(h.cache.adopt(h.cache.publishTicket(), { ...v1, previous: null, sequence: 1 }, validation)).toBe("installed");
    expect(await h.request()).toBe(v1.version);
    await h.check();
    expect(h.cache.status()).toMatchObject({ state: "loaded", snapshot: { version: v1.version } });
    expect(h.lines.filter((line) => line.event === "config.missing")).toHaveLength(1);
  });

  it("compiles nothing when a check already installed the published version", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const ticket = h.cache.publishTicket();
    const v1 = await publishAt(h.kv, "/one", { pointer: true });
    await h.check();
    expect(h.cache.adopt(ticket, { ...v1, previous: v0, sequence: 1 }, validation)).toBe("current");
    expect(h.loaded().map((line) => line.version)).toEqual([v0, v1.version]);
  });

  it("counts as a check: a request right after it does not wait, however long the isolate was idle", async () => {
    const h = harness(1_000);
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    h.advance(60 * 60 * 1000);
    const v1 = await publishAt(h.kv, "/one", { pointer: false });
    h.cache.adopt(h.cache.publishTicket(), { ...v1, previous: v0, sequence: 1 }, validation);
    h.kv.hold();
    expect(await Promise.race([h.serve(), new Promise((resolve) => setTimeout(resolve, 0, "waiting"))])).toBe(v1.version);
    h.kv.release();
    await h.settle();
  });

  it("reports a document it cannot compile, and keeps serving what it had", async () => {
    const h = harness();
    const v0 = await h.kv.publish(config("/zero"));
    await h.request();
    const broken = { version: "20261201T120000Z-0badc0de", previous: v0, sequence: 1, document: { clusters: {}, routes: [{ id: "x" }] } };
    expect(h.cache.adopt(h.cache.publishTicket(), broken, validation)).toBe("failed");
    expect(await h.request()).toBe(v0);
    expect(h.lines.at(-1)).toMatchObject({ level: "error", event: "config.invalid", version: broken.version });
  });
});
