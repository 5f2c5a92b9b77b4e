/**
 * What coalescing must never share: one caller's answer with another caller's credential, an answer
 * that belongs to one client, a write, a range.
 */
import { describe, expect, it } from "vitest";
import { burst, coalesceCounters, coalescingRoute, freshKey, freshRouteId } from "../coalesce-support.ts";
import { originHits } from "../support.ts";

interface Echo {
  hit: number;
  authorization: string | null;
  cookie: string | null;
}

describe("coalescing: security", () => {
  it("never shares an answer between different Authorization values", async () => {
    await coalescingRoute(freshRouteId());
    const key = freshKey();
    const users = ["alice", "bob", "carol", "dave"];
    const responses = await burst(40, `/coalesce?key=${key}&ms=300`, (i) => ({ headers: { authorization: `Bearer ${users[i % 4]}` } }));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Echo[];
    bodies.forEach((body, i) => {
      expect(body.authorization).toBe(`Bearer ${users[i % 4]}`);
    });
    // One call per credential, not per caller and not one for all.
    expect(await originHits(key)).toBe(4);
    // A caller without a credential never gets a credentialed caller's answer either.
    const anonymous = await burst(5, `/coalesce?key=${key}&ms=300`);
    expect(((await (anonymous[0] as Response).json()) as Echo).authorization).toBeNull();
  });

  it("keys on Cookie and X-Api-Key as credentials too", async () => {
    await coalescingRoute(freshRouteId());
    const key = freshKey();
    const responses = await burst(20, `/coalesce?key=${key}&ms=300`, (i) => ({
      headers: i < 10 ? [["cookie", `sid=${i % 2}`]] : [["x-api-key", `key-${i % 2}`]],
    }));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Echo[];
    bodies.slice(0, 10).forEach((body, i) => {
      expect(body.cookie).toBe(`sid=${i % 2}`);
    });
    expect(await originHits(key)).toBe(4);
  });

  it("shares across credentials only when the route declares its answers public", async () => {
    await coalescingRoute(freshRouteId(), { public: true });
    const key = freshKey();
    const responses = await burst(20, `/coalesce?key=${key}&ms=300`, (i) => ({ headers: { authorization: `Bearer user-${i}` } }));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(await originHits(key)).toBe(1);
  });

  it.each([
    ["Set-Cookie", "setCookie=1", "unshareable"],
    ["Cache-Control: private", "cacheControl=private%2C%20max-age%3D60", "unshareable"],
    ["Cache-Control: no-store", "cacheControl=no-store", "unshareable"],
    ["Vary: *", "vary=*", "unshareable"],
  ])("does not share an answer with %s: every caller gets its own", async (_, query, outcome) => {
    const id = freshRouteId();
    await coalescingRoute(id);
    const key = freshKey();
    const responses = await burst(10, `/coalesce?key=${key}&ms=300&${query}`);
    const hits = await Promise.all(responses.map(async (r) => ((await r.json()) as Echo).hit));
    expect(new Set(hits).size).toBe(10);
    expect(await originHits(key)).toBe(10);
    if (query === "setCookie=1") {
      // Each client's cookie is its own.
      expect(new Set(responses.map((r) => r.headers.get("set-cookie"))).size).toBe(10);
    }
    expect((await coalesceCounters(id))[`coalesce_calls_total{outcome="${outcome}"}`]).toBe(1);
  });

  it("never merges a POST", async () => {
    const id = freshRouteId();
    await coalescingRoute(id);
    const key = freshKey();
    const responses = await burst(10, `/coalesce?key=${key}&ms=200`, () => ({ method: "POST", body: "same body" }));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(await originHits(key)).toBe(10);
    expect((await coalesceCounters(id))['coalesce_requests_total{role="bypass"}']).toBe(10);
  });

  it("never merges a conditional read with an unconditional one, in any spelling an origin reads", async () => {
    await coalescingRoute(freshRouteId());
    const key = freshKey();
    const conditional = [
      { "if-none-match": '"v1"' },
      { if_none_match: '"v1"' },
      { "if-modified-since": "Wed, 21 Oct 2015 07:28:00 GMT" },
      { "if-match": '"v0"' },
      { "if-unmodified-since": "Wed, 21 Oct 2015 07:28:00 GMT" },
      { "if-range": '"v1"', range: "bytes=0-3" },
    ];
    const responses = await burst(12, `/coalesce?key=${key}&ms=200`, (i) => ({ headers: i < conditional.length ? conditional[i] : {} }));
    await Promise.all(responses.map((r) => r.text()));
    // Six conditional reads each on their own; the six plain ones share at most one call.
    expect(await originHits(key)).toBe(7);
  });

  it("never merges requests with Range", async () => {
    await coalescingRoute(freshRouteId());
    const key = freshKey();
    await burst(6, `/coalesce?key=${key}&ms=200`, () => ({ headers: { range: "bytes=0-3" } })).then((rs) =>
      Promise.all(rs.map((r) => r.text())),
    );
    expect(await originHits(key)).toBe(6);
  });
});
