/**
 * The shared response cache against a real slow origin that counts its hits: hits make no origin
 * call, misses for one key merge into one, stale copies are served while one refresh runs.
 */
import { describe, expect, it } from "vitest";
import { cachingRoute, freshCacheRouteId, sleep } from "../cache-support.ts";
import { burst, freshKey } from "../coalesce-support.ts";
import { gateway, originHits } from "../support.ts";

interface Echo {
  hit: number;
  key: string;
}

describe("caching: happy paths", () => {
  it("serves a second GET from the cache with Age and a hit in Cache-Status, without an origin call", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60 });
    const key = freshKey();
    const first = await gateway(`/coalesce?key=${key}&ms=10`);
    expect(first.status).toBe(200);
    expect(first.headers.get("cache-status")).toBe("edgegate; fwd=miss; stored");
    const firstBody = (await first.json()) as Echo;
    await sleep(50);
    for (let i = 0; i < 3; i++) {
      const again = await gateway(`/coalesce?key=${key}&ms=10`);
      expect(again.status).toBe(200);
      expect(again.headers.get("cache-status")).toMatch(/^edgegate; hit; ttl=\d+$/);
      expect(Number(again.headers.get("age"))).toBeGreaterThanOrEqual(0);
      expect(again.headers.get("x-origin-hit")).toBe("1");
      expect(again.headers.get("x-edgegate-cache")).toBeNull();
      expect(again.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
      expect(((await again.json()) as Echo).hit).toBe(firstBody.hit);
    }
    expect(await originHits(key)).toBe(1);
  });

  it("answers HEAD from a stored GET, headers and no body", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60 });
    const key = freshKey();
    await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(50);
    const head = await gateway(`/coalesce?key=${key}&ms=10`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("cache-status")).toMatch(/^edgegate; hit/);
    expect(head.headers.get("content-type")).toBe("application/json");
    expect(await head.text()).toBe("");
    expect(await originHits(key)).toBe(1);
  });

  it("answers 100 concurrent cold misses with one origin call, on a route without a coalesce block", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60 });
    const key = freshKey();
    const responses = await burst(100, `/coalesce?key=${key}&ms=300`);
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(await originHits(key)).toBe(1);
    const statuses = responses.map((r) => r.headers.get("cache-status"));
    expect(statuses.filter((s) => s === "edgegate; fwd=miss; stored")).toHaveLength(1);
    expect(statuses.filter((s) => s === "edgegate; fwd=miss; collapsed")).toHaveLength(99);
    expect(new Set(responses.map((r) => r.headers.get("x-request-id"))).size).toBe(100);
  });

  it("keeps queries and declared varying headers apart", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60, varyHeaders: ["accept-language"] });
    const key = freshKey();
    for (let round = 0; round < 2; round++) {
      for (const [v, lang] of [
        ["0", "de"],
        ["0", "fr"],
        ["1", "de"],
      ]) {
        const response = await gateway(`/coalesce?key=${key}&ms=10&v=${v}`, { headers: { "accept-language": lang as string } });
        expect(((await response.json()) as { lang: string }).lang).toBe(lang);
      }
      await sleep(50);
    }
    expect(await originHits(key)).toBe(3);
  });

  it("serves a stale copy within staleWhileRevalidateSec and refreshes it in the background", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 1, staleWhileRevalidateSec: 60 });
    const key = freshKey();
    await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(1_100);
    const stale = await gateway(`/coalesce?key=${key}&ms=10`);
    expect(stale.headers.get("cache-status")).toMatch(/^edgegate; hit; ttl=(0|-\d+); detail=stale-while-revalidate$/);
    expect(((await stale.json()) as Echo).hit).toBe(1);
    // The refresh ran in the background: the next request gets its fresh copy.
    for (let i = 0; i < 50 && (await originHits(key)) < 2; i++) await sleep(20);
    await sleep(50);
    const fresh = await gateway(`/coalesce?key=${key}&ms=10`);
    expect(fresh.headers.get("cache-status")).toMatch(/^edgegate; hit; ttl=\d+$/);
    expect(((await fresh.json()) as Echo).hit).toBe(2);
    expect(await originHits(key)).toBe(2);
  });

  it("starts a new key space when a publish changes the route's cache settings", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 60 });
    const key = freshKey();
    await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(50);
    expect((await gateway(`/coalesce?key=${key}&ms=10`)).headers.get("cache-status")).toMatch(/hit/);
    await cachingRoute(id, { ttlSec: 120 });
    const after = await gateway(`/coalesce?key=${key}&ms=10`);
    expect(after.headers.get("cache-status")).toBe("edgegate; fwd=miss; stored");
    expect(await originHits(key)).toBe(2);
  });
});
