import { describe, expect, it } from "vitest";
import { type Backend, backendHits, setBackend, startBackends } from "../breaker-support.ts";
import { applyConfig, gateway, origin, originHits } from "../support.ts";

describe("hot config swap", () => {
  it("keeps in-flight requests alive while new requests see the new routes", async () => {
    await applyConfig({
      clusters: { o: { targets: [{ url: origin }] } },
      routes: [{ id: "old", match: { path: "/old/*" }, cluster: "o", rewrite: { path: "/slow" } }],
    });
    const key = crypto.randomUUID();
    const inFlight = Array.from({ length: 20 }, () => gateway(`/old/x?ms=600&key=${key}`));
    // Swap only once every one of them has been routed and reached the origin.
    for (let i = 0; i < 300 && (await originHits(key)) < 20; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await originHits(key)).toBe(20);
    await applyConfig({
      clusters: { o: { targets: [{ url: origin }] } },
      routes: [{ id: "new", match: { path: "/new/*" }, cluster: "o", rewrite: { stripPrefix: "/new", prefix: "/echo" } }],
    });
    // Requests during and right after the swap: every one is answered by the new routes.
    const after = await Promise.all(Array.from({ length: 20 }, () => gateway("/new/hi")));
    expect(after.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await gateway("/old/x?ms=1")).status).toBe(404);
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    for (const res of results) expect(await res.json()).toEqual({ slow: true });
  });

  it("keeps serving through a stream of swaps with no failed request", async () => {
    const config = (n: number) => ({
      clusters: { o: { targets: [{ url: origin }] } },
      routes: [
        { id: "stable", match: { path: "/stable" }, cluster: "o", rewrite: { path: "/echo" } },
        { id: `v${n}`, match: { path: `/v${n}` }, cluster: "o", rewrite: { path: "/echo" } },
      ],
    });
    await applyConfig(config(0));
    let stop = false;
    const statuses: number[] = [];
    const load = (async () => {
      while (!stop) statuses.push((await gateway("/stable")).status);
    })();
    for (let n = 1; n <= 5; n++) {
      await applyConfig(config(n));
      expect((await gateway(`/v${n}`)).status).toBe(200);
    }
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(5);
    expect(new Set(statuses)).toEqual(new Set([200]));
  });

  it("never mixes two versions in one request: a retry after a swap still uses the version the request started with", async () => {
    const [before, after] = (await startBackends(2)) as [Backend, Backend];
    await setBackend(before, "hang");
    const version = (target: Backend) => ({
      clusters: { c: { targets: [{ url: target.url }], connectTimeoutMs: 600 } },
      routes: [{ id: "mix", match: { path: "/mix/*" }, cluster: "c", timeoutMs: 5_000, retry: { attempts: 1, on: ["timeout" as const] } }],
    });
    await applyConfig(version(before));
    // The first attempt hangs until its 600 ms timeout; meanwhile the route's cluster moves to `after`.
    const pending = gateway("/mix/item");
    await new Promise((resolve) => setTimeout(resolve, 100));
    await applyConfig(version(after));
    expect((await gateway("/mix/item")).status).toBe(200);
    const afterHits = await backendHits(after);
    // The retry went where the request's own version sends it: the hanging target, so 504.
    const response = await pending;
    expect(response.status).toBe(504);
    await response.text();
    expect(await backendHits(before)).toBe(2);
    expect(await backendHits(after)).toBe(afterHits);
  });
});
