import { beforeAll, describe, expect, it } from "vitest";
import { burst, countStatus, limitedConfig, type PolicyInput, warmDurableObjects } from "../rate-limit-support.ts";
import { applyConfig, gateway, originHits } from "../support.ts";

beforeAll(warmDurableObjects);

const BACKENDS = ["durable-object", "upstash"] as const;
const N = 20;

/** An hour-long window: a burst never straddles two windows, so the count is exact. */
const policy = (overrides: Partial<PolicyInput>): PolicyInput => ({ id: "burst", limit: N, windowSec: 3600, ...overrides });

describe.each(BACKENDS)("exact mode on %s", (backend) => {
  it.each(["fixed-window", "token-bucket"] as const)("admits exactly N of 2N concurrent requests (%s)", async (algorithm) => {
    await applyConfig(limitedConfig([policy({ backend, algorithm })]));
    const hit = crypto.randomUUID();
    const responses = await burst(2 * N, () => `/x?key=${hit}`);
    expect(countStatus(responses, 200)).toBe(N);
    expect(countStatus(responses, 429)).toBe(N);
    // The refused half never reached the upstream.
    expect(await originHits(hit)).toBe(N);
  });

  it("admits between 0.9N and N of 2N concurrent requests (sliding-window)", async () => {
    await applyConfig(limitedConfig([policy({ backend, algorithm: "sliding-window", windowSec: 60 })]));
    const hit = crypto.randomUUID();
    const responses = await burst(2 * N, () => `/x?key=${hit}`);
    const admitted = countStatus(responses, 200);
    expect(admitted).toBeGreaterThanOrEqual(0.9 * N);
    expect(admitted).toBeLessThanOrEqual(N);
    expect(countStatus(responses, 429)).toBe(2 * N - admitted);
    expect(await originHits(hit)).toBe(admitted);
  });

  it("keeps keys apart: one exhausted key leaves others untouched, with no collision of composed parts", async () => {
    await applyConfig(limitedConfig([policy({ backend, limit: 2, key: ["header:x-a", "header:x-b"] })]));
    const send = (a: string, b: string) => gateway("/x", { headers: { "x-a": a, "x-b": b } });
    expect((await send("a:b", "c")).status).toBe(200);
    expect((await send("a:b", "c")).status).toBe(200);
    expect((await send("a:b", "c")).status).toBe(429);
    // Same characters, split differently: a different counter.
    expect((await send("a", "b:c")).status).toBe(200);
    expect((await send("a|b", "c")).status).toBe(200);
    expect((await send("other", "c")).status).toBe(200);
  });

  it("answers 429 problem+json with Retry-After and RateLimit fields; successes carry the fields too", async () => {
    await applyConfig(limitedConfig([policy({ backend, limit: 2, windowSec: 60 })]));
    const first = await gateway("/x");
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toBe('"burst";q=2;w=60');
    expect(first.headers.get("ratelimit")).toMatch(/^"burst";r=1;t=([1-9]|[1-5][0-9]|60)$/);
    await gateway("/x");
    const refused = await gateway("/x");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("ratelimit")).toMatch(/^"burst";r=0;t=\d+$/);
    expect(refused.headers.get("ratelimit-policy")).toBe('"burst";q=2;w=60');
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ type: "urn:edgegate:problem:rate-limited", status: 429 });
    expect(typeof body.requestId).toBe("string");
  });
});

describe("several policies on one route", () => {
  it("enforces a per-second burst and a daily quota together, naming both in the fields", async () => {
    await applyConfig(
      limitedConfig([
        { id: "per-second", limit: 5, windowSec: 1, algorithm: "token-bucket", refill: 5 },
        { id: "daily", limit: 8, windowSec: 86_400, backend: "upstash" },
      ]),
    );
    const first = await burst(7, () => "/x");
    expect(countStatus(first, 200)).toBe(5);
    const admitted = first.find((r) => r.status === 200);
    expect(admitted?.headers.get("ratelimit-policy")).toBe('"per-second";q=5;w=1, "daily";q=8;w=86400');
    expect(admitted?.headers.get("ratelimit")).toMatch(/^"per-second";r=\d+;t=\d+, "daily";r=\d+;t=\d+$/);
    // A request the burst refused stops there: the daily quota is not consulted, nor charged.
    const refusedByBurst = first.find((r) => r.status === 429);
    expect(refusedByBurst?.headers.get("ratelimit")).toMatch(/^"per-second";r=0;t=\d+$/);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // The bucket has refilled, but the daily quota (8) has only 3 left.
    const second = await burst(5, () => "/x");
    expect(countStatus(second, 200)).toBe(3);
    const refused = second.find((r) => r.status === 429);
    expect(refused?.headers.get("ratelimit")).toContain('"daily";r=0');
  });
});
