/**
 * What the cache must never share: one caller's answer with another credential, answers that
 * belong to one client (Set-Cookie, private, no-store, Vary: *), answers varying on a field the
 * route does not key on. Each case counts the origin's calls: a refused share is a call of its own.
 */
import { describe, expect, it } from "vitest";
import { cachingRoute, freshCacheRouteId, sleep } from "../cache-support.ts";
import { freshKey } from "../coalesce-support.ts";
import { gateway, originHits } from "../support.ts";

interface Echo {
  hit: number;
  authorization: string | null;
  cookie: string | null;
}

async function twice(path: string, init: (i: number) => RequestInit = () => ({})): Promise<[Response, Response]> {
  const first = await gateway(path, init(0));
  await first.arrayBuffer();
  await sleep(50);
  return [first, await gateway(path, init(1))];
}

describe("caching: never across credentials", () => {
  for (const [field, a, b] of [
    ["authorization", "Bearer alice", "Bearer bob"],
    ["cookie", "session=alice", "session=bob"],
    ["x-api-key", "key-alice", "key-bob"],
    ["x_api_key", "key-alice", "key-bob"],
  ] as const) {
    it(`keeps answers for different ${field} values apart, and shares them within one`, async () => {
      await cachingRoute(freshCacheRouteId(), { ttlSec: 60 });
      const key = freshKey();
      const [alice, bob] = await twice(`/coalesce?key=${key}&ms=10`, (i) => ({ headers: { [field]: i === 0 ? a : b } }));
      expect(bob.headers.get("cache-status")).toBe("edgegate; fwd=miss; stored");
      expect(((await bob.json()) as Echo).hit).toBe(2);
      expect(alice.status).toBe(200);
      const aliceAgain = await gateway(`/coalesce?key=${key}&ms=10`, { headers: { [field]: a } });
      expect(aliceAgain.headers.get("cache-status")).toMatch(/^edgegate; hit/);
      expect(((await aliceAgain.json()) as Echo).hit).toBe(1);
      // No credential at all is a caller of its own too.
      const anonymous = await gateway(`/coalesce?key=${key}&ms=10`);
      expect(((await anonymous.json()) as Echo).hit).toBe(3);
      expect(await originHits(key)).toBe(3);
    });
  }

  it("shares one copy across credentials only on a public route", async () => {
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60, public: true });
    const key = freshKey();
    const [, bob] = await twice(`/coalesce?key=${key}&ms=10`, (i) => ({
      headers: { authorization: i === 0 ? "Bearer alice" : "Bearer bob" },
    }));
    expect(bob.headers.get("cache-status")).toMatch(/^edgegate; hit/);
    expect(await originHits(key)).toBe(1);
  });
});

describe("caching: answers that are never stored", () => {
  for (const [knob, reason] of [
    ["setCookie=1", "set-cookie"],
    ["cacheControl=private", "private"],
    ["cacheControl=max-age%3D60%2C%20Private", "private"],
    ["cacheControl=no-store", "no-store"],
    ["vary=*", "vary-star"],
    ["vary=Accept%2C%20*", "vary-star"],
    ["vary=X-Request-Id", "vary-per-request"],
    ["vary=Accept-Language", "vary-undeclared"],
    ["status=206", "partial"],
    ["status=201", "status"],
  ] as const) {
    it(`does not store an answer with ${decodeURIComponent(knob)}`, async () => {
      await cachingRoute(freshCacheRouteId(), { ttlSec: 60, public: true });
      const key = freshKey();
      const [first, second] = await twice(`/coalesce?key=${key}&ms=10&${knob}`);
      expect(first.headers.get("cache-status")).toBe(`edgegate; fwd=miss; detail=${reason}`);
      expect(second.headers.get("cache-status")).toBe(`edgegate; fwd=miss; detail=${reason}`);
      expect(await originHits(key)).toBe(2);
    });
  }

  it("never serves Range or conditional requests from the cache", async () => {
    const shaping: Record<string, string>[] = [
      { range: "bytes=0-3" },
      { "if-none-match": '"x"' },
      { if_modified_since: "Wed, 21 Oct 2015 07:28:00 GMT" },
    ];
    await cachingRoute(freshCacheRouteId(), { ttlSec: 60 });
    const key = freshKey();
    await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(50);
    for (const headers of shaping) {
      const response = await gateway(`/coalesce?key=${key}&ms=10`, { headers });
      expect(response.headers.get("cache-status")).toBe("edgegate; fwd=request");
      await response.arrayBuffer();
    }
    expect(await originHits(key)).toBe(4);
  });
});
