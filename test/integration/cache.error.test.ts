/**
 * The cache when the upstream fails: a stale copy within staleIfErrorSec stands in for a refused
 * connection, an error status or an all-ejected cluster; without one the failure is answered.
 */
import { describe, expect, it } from "vitest";
import { cachingRoute, freshCacheRouteId, sleep } from "../cache-support.ts";
import { freshKey } from "../coalesce-support.ts";
import { closedOrigin, expectProblem, gateway, originHits } from "../support.ts";

describe("caching: stale-if-error", () => {
  it("serves the stale copy, marked, while the origin is down, and a problem once it is too old", async () => {
    const id = freshCacheRouteId();
    const cache = { ttlSec: 1, staleIfErrorSec: 3 };
    await cachingRoute(id, cache);
    const key = freshKey();
    const first = await gateway(`/coalesce?key=${key}&ms=10`);
    const body = await first.text();
    await sleep(1_100);
    // The same route and cache settings (the same key space), now to an origin that refuses connections.
    await cachingRoute(id, cache, {}, { targets: [{ url: closedOrigin }] });
    const stale = await gateway(`/coalesce?key=${key}&ms=10`);
    expect(stale.status).toBe(200);
    expect(stale.headers.get("cache-status")).toMatch(/^edgegate; fwd=stale; fwd-status=502; ttl=(0|-\d+); detail=stale-if-error$/);
    expect(Number(stale.headers.get("age"))).toBeGreaterThanOrEqual(1);
    expect(await stale.text()).toBe(body);
    await sleep(3_000);
    await expectProblem(await gateway(`/coalesce?key=${key}&ms=10`), 502, "upstream-unavailable");
    expect(await originHits(key)).toBe(1);
  });

  it("serves the stale copy in place of an upstream error status", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 1, staleIfErrorSec: 60, public: true });
    const key = freshKey();
    await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(1_100);
    // A query the origin answers 503 for would be another key: the route rewrites to it instead.
    await cachingRoute(id, { ttlSec: 1, staleIfErrorSec: 60, public: true }, { rewrite: { path: "/status/503" } });
    const stale = await gateway(`/coalesce?key=${key}&ms=10`);
    expect(stale.status).toBe(200);
    expect(stale.headers.get("cache-status")).toMatch(/fwd=stale; fwd-status=503/);
  });

  it("answers the failure when there is no copy, or staleIfErrorSec is 0", async () => {
    const id = freshCacheRouteId();
    await cachingRoute(id, { ttlSec: 1 });
    const key = freshKey();
    await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(1_100);
    await cachingRoute(id, { ttlSec: 1 }, {}, { targets: [{ url: closedOrigin }] });
    await expectProblem(await gateway(`/coalesce?key=${key}&ms=10`), 502, "upstream-unavailable");
    await expectProblem(await gateway(`/coalesce?key=${freshKey()}&ms=10`), 502, "upstream-unavailable");
  });

  it("gives every waiter of a failed call the stale copy", async () => {
    const id = freshCacheRouteId();
    const cache = { ttlSec: 1, staleIfErrorSec: 60 };
    await cachingRoute(id, cache);
    const key = freshKey();
    const body = await (await gateway(`/coalesce?key=${key}&ms=10`)).text();
    await sleep(1_100);
    await cachingRoute(id, cache, {}, { targets: [{ url: closedOrigin }] });
    const responses = await Promise.all(Array.from({ length: 20 }, () => gateway(`/coalesce?key=${key}&ms=10`)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(await Promise.all(responses.map((r) => r.text())))).toEqual(new Set([body]));
  });
});
