/**
 * Coalescing of identical reads against a real slow origin that counts its hits: many callers,
 * one upstream call, every caller its own correct answer.
 */
import { describe, expect, it } from "vitest";
import { burst, coalesceCounters, coalescingRoute, freshKey, freshRouteId } from "../coalesce-support.ts";
import { gateway, origin, originHits } from "../support.ts";

interface Echo {
  hit: number;
  key: string;
  authorization: string | null;
  lang: string | null;
}

async function sha256(bytes: ArrayBuffer): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("coalescing: happy paths", () => {
  it("answers 100 concurrent identical GETs with one origin call and 100 identical bodies", async () => {
    const id = freshRouteId();
    await coalescingRoute(id);
    const key = freshKey();
    const responses = await burst(100, `/coalesce?key=${key}&ms=300`);
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0] as string)).toMatchObject({ hit: 1, key });
    expect(await originHits(key)).toBe(1);
    // Each caller keeps its own request id; the origin's headers reach all of them.
    expect(new Set(responses.map((r) => r.headers.get("x-request-id"))).size).toBe(100);
    expect(responses.every((r) => r.headers.get("x-origin-hit") === "1" && r.headers.get("content-type") === "application/json")).toBe(
      true,
    );

    const counters = await coalesceCounters(id);
    expect(counters['coalesce_requests_total{role="leader"}']).toBe(1);
    expect(counters['coalesce_requests_total{role="follower"}']).toBe(99);
    expect(counters['coalesce_calls_total{outcome="shared"}']).toBe(1);
    expect(counters.coalesce_followers_per_call_sum).toBe(99);
    // Kept per bucket (the exposition makes them cumulative): the one call is in 64 < n <= 256 alone.
    expect(counters['coalesce_followers_per_call_bucket{le="64"}']).toBeUndefined();
    expect(counters['coalesce_followers_per_call_bucket{le="256"}']).toBe(1);
    expect(counters['coalesce_followers_per_call_bucket{le="1024"}']).toBeUndefined();
    expect(counters['coalesce_followers_per_call_bucket{le="+Inf"}']).toBeUndefined();
  });

  it("starts a new call once the last one has landed", async () => {
    await coalescingRoute(freshRouteId());
    const key = freshKey();
    const first = await burst(10, `/coalesce?key=${key}&ms=100`);
    const second = await burst(10, `/coalesce?key=${key}&ms=100`);
    expect((await Promise.all(first.map((r) => r.json() as Promise<Echo>))).map((b) => b.hit)).toEqual(Array(10).fill(1));
    expect((await Promise.all(second.map((r) => r.json() as Promise<Echo>))).map((b) => b.hit)).toEqual(Array(10).fill(2));
    expect(await originHits(key)).toBe(2);
  });

  it("keeps different queries, methods and declared varying headers apart", async () => {
    await coalescingRoute(freshRouteId(), { varyHeaders: ["accept-language"] });
    const key = freshKey();
    const responses = await burst(
      40,
      (i) => `/coalesce?key=${key}&ms=200&v=${i % 2}`,
      (i) => ({ method: i < 20 ? "GET" : "HEAD", headers: { "accept-language": i % 4 < 2 ? "de" : "fr" } }),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    // 2 queries x 2 languages x 2 methods, each one call.
    expect(await originHits(key)).toBe(8);
    for (const [i, response] of responses.entries()) {
      if (i < 20) expect(((await response.json()) as Echo).lang).toBe(i % 4 < 2 ? "de" : "fr");
      else expect(await response.text()).toBe("");
    }
  });

  it("shares a HEAD answer with its headers and no body", async () => {
    await coalescingRoute(freshRouteId());
    const key = freshKey();
    const responses = await burst(10, `/coalesce?key=${key}&ms=200&bytes=5000`, () => ({ method: "HEAD" }));
    expect(await originHits(key)).toBe(1);
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/octet-stream");
      expect(await response.text()).toBe("");
    }
  });

  it("shares an answer that varies on a header only with followers that agree on it", async () => {
    const id = freshRouteId();
    await coalescingRoute(id);
    const key = freshKey();
    // The route declares nothing; the origin's Vary tells the gateway.
    const responses = await burst(20, `/coalesce?key=${key}&ms=300&vary=Accept-Language`, (i) => ({
      headers: { "accept-language": i === 0 || i % 2 === 0 ? "de" : "fr" },
    }));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Echo[];
    bodies.forEach((body, i) => {
      expect(body.lang).toBe(i % 2 === 0 ? "de" : "fr");
    });
    // The leader's "de" answer served the 9 other "de" callers; the 10 "fr" callers went on their own.
    expect(await originHits(key)).toBe(11);
    expect((await coalesceCounters(id)).coalesce_vary_mismatches_total).toBe(10);
  });

  it("serves every waiter from one buffered copy of a shared body", async () => {
    const id = freshRouteId();
    await coalescingRoute(id, { maxResponseBytes: 512 * 1024 });
    const key = freshKey();
    const bytes = 300 * 1024;
    const responses = await burst(50, `/coalesce?key=${key}&ms=200&bytes=${bytes}`);
    const digests = await Promise.all(responses.map(async (r) => sha256(await r.arrayBuffer())));
    expect(new Set(digests).size).toBe(1);
    const direct = await gateway(`/coalesce?key=${freshKey()}&ms=0&bytes=${bytes}`);
    expect(digests[0]).toBe(await sha256(await direct.arrayBuffer()));
    expect(await originHits(key)).toBe(1);
    const counters = await coalesceCounters(id);
    // Fifty waiters, one copy held: the peak is the body once, and nothing is held after.
    expect(counters.coalesce_buffered_bytes_peak).toBeLessThanOrEqual(bytes * 2);
    expect(counters.coalesce_buffered_bytes).toBe(0);
  });
});

describe("coalescing: bodies over the limit", () => {
  it("streams a large answer to its own caller and sends the waiters their own way, holding at most the limit", async () => {
    const id = freshRouteId();
    const limit = 256 * 1024;
    await coalescingRoute(id, { maxResponseBytes: limit });
    const key = freshKey();
    const bytes = 4 * 1024 * 1024;
    // No Content-Length from the origin (chunked): the leader finds out by reading past the limit.
    const responses = await burst(20, `/coalesce?key=${key}&ms=200&bytes=${bytes}`);
    const digests = await Promise.all(responses.map(async (r) => sha256(await r.arrayBuffer())));
    expect(new Set(digests).size).toBe(1);
    expect(digests[0]).toBe(await sha256(await (await gateway(`/coalesce?key=${freshKey()}&ms=0&bytes=${bytes}`)).arrayBuffer()));
    expect(await originHits(key)).toBe(20);
    const counters = await coalesceCounters(id);
    // The burst's call and the direct one above.
    expect(counters['coalesce_calls_total{outcome="too_large"}']).toBe(2);
    expect(counters.coalesce_buffered_bytes_peak).toBeLessThanOrEqual(limit + 64 * 1024);
    expect(counters.coalesce_buffered_bytes).toBe(0);
    // The key is marked: the next burst does not wait on a leader at all.
    await burst(5, `/coalesce?key=${key}&ms=200&bytes=${bytes}`).then((rs) => Promise.all(rs.map((r) => r.arrayBuffer())));
    expect((await coalesceCounters(id))['coalesce_requests_total{role="pass"}']).toBe(5);
  });

  it("keeps streaming the leader's answer once it is over the limit", async () => {
    await coalescingRoute(freshRouteId(), { maxResponseBytes: 16 * 1024 });
    const id = crypto.randomUUID();
    // The origin sends 64 KiB, then waits for the client to confirm it: a leader that buffered the
    // whole body would never deliver it and the test would time out.
    const res = await gateway(`/lockstep/download?id=${id}&rest=${1024 * 1024}`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    while (received < 64 * 1024) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error("ended early");
      received += chunk.value.byteLength;
    }
    await fetch(`${origin}/__control/release?id=${id}`);
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      received += chunk.value.byteLength;
    }
    expect(received).toBe(64 * 1024 + 1024 * 1024);
  });
});
