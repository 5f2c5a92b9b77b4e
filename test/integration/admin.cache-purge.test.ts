/**
 * POST /__gateway/admin/cache/purge: by route, by path prefix, by the upstream's Cache-Tag; copies
 * stored after the purge are served again; bad requests get problems and purge nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PurgeLedger } from "../../src/services/cache/purges.ts";
import { cachingRoute, freshCacheRouteId, purge, sleep } from "../cache-support.ts";
import { freshKey } from "../coalesce-support.ts";
import { expectProblem, gateway, originHits } from "../support.ts";

async function warm(path: string): Promise<void> {
  await (await gateway(path)).arrayBuffer();
}

async function statusOf(path: string): Promise<string | null> {
  const response = await gateway(path);
  await response.arrayBuffer();
  return response.headers.get("cache-status");
}

describe("cache purge: happy paths", () => {
  it("purges a whole route, and stores afresh after it", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 60 });
    const key = freshKey();
    const paths = [`/coalesce?key=${key}&ms=10&a=1`, `/coalesce?key=${key}&ms=10&a=2`];
    for (const path of paths) await warm(path);
    await sleep(50);
    for (const path of paths) expect(await statusOf(path)).toMatch(/^edgegate; hit/);
    const response = await purge({ route: id });
    expect(response.status).toBe(202);
    expect(((await response.json()) as { purged: { route: string } }).purged.route).toBe(id);
    await sleep(5);
    for (const path of paths) expect(await statusOf(path)).toBe("edgegate; fwd=miss; stored");
    await sleep(50);
    for (const path of paths) expect(await statusOf(path)).toMatch(/^edgegate; hit/);
    expect(await originHits(key)).toBe(4);
  });

  it("purges by path prefix, leaving other paths stored", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 60 });
    const key = freshKey();
    const kept = `/coalesce?key=${key}&ms=10&side=kept`;
    const dropped = `/coalesce?key=${key}&ms=10&side=dropped`;
    await warm(kept);
    await warm(dropped);
    await sleep(50);
    expect((await purge({ prefix: `/coalesce?key=${key}&ms=10&side=d` })).status).toBe(202);
    await sleep(5);
    expect(await statusOf(kept)).toMatch(/^edgegate; hit/);
    expect(await statusOf(dropped)).toBe("edgegate; fwd=miss; stored");
  });

  it("purges by a tag the origin set with Cache-Tag, across routes' paths", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 60 });
    const key = freshKey();
    const tag = `user-${key.slice(0, 8)}`;
    const tagged = `/coalesce?key=${key}&ms=10&cacheTag=${encodeURIComponent(`list, ${tag}`)}`;
    const untagged = `/coalesce?key=${key}&ms=10&cacheTag=other`;
    await warm(tagged);
    await warm(untagged);
    await sleep(50);
    expect((await purge({ tag })).status).toBe(202);
    await sleep(5);
    expect(await statusOf(tagged)).toBe("edgegate; fwd=miss; stored");
    expect(await statusOf(untagged)).toMatch(/^edgegate; hit/);
  });

  it("records the purge in KV, where another isolate's ledger reads it", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 60 });
    expect((await purge({ route: id, tag: "t1" })).status).toBe(202);
    // A ledger with nothing in memory stands for an isolate that did not take the purge.
    const other = new PurgeLedger();
    expect(other.current(env.CONFIG, 60_000, () => {})).toBeNull();
    await other.read(env.CONFIG);
    const rules = other.current(env.CONFIG, 60_000, () => {});
    expect(rules?.some((rule) => rule.route === id && rule.tag === "t1")).toBe(true);
  });
});

describe("cache purge: errors", () => {
  it("refuses bodies that name nothing, or name it wrongly, with the field", async () => {
    for (const body of [{}, { route: 5 }, { prefix: "users" }, { tag: "" }, { tag: "a,b" }, { routes: "x" }, [], "null"]) {
      const problem = await expectProblem(await purge(body), 400, "bad-request");
      expect(problem.detail).toBeDefined();
    }
    await expectProblem(await purge("{not json"), 400, "bad-request");
    await expectProblem(await purge({ route: "x" }, { headers: { "content-type": "text/plain" } }), 415, "unsupported-media-type");
  });

  it("answers 404 for a route that does not cache", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60 });
    await expectProblem(await purge({ route: "no-such-route" }), 404, "not-found");
  });

  it("answers 401 without the admin token, and purges nothing", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 60 });
    const key = freshKey();
    await warm(`/coalesce?key=${key}&ms=10`);
    await sleep(50);
    for (const authorization of [undefined, "Bearer wrong", "Bearer test-admin-tokeN"]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const response = await gateway("/__gateway/admin/cache/purge", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ route: id }),
      });
      await expectProblem(response, 401, "unauthorized");
    }
    expect(await statusOf(`/coalesce?key=${key}&ms=10`)).toMatch(/^edgegate; hit/);
  });
});
