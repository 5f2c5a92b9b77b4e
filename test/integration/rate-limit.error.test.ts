import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { UpstashLimiter } from "../../src/services/rate-limit/upstash.ts";
import { counterSum, gatewayCounters, limitedConfig, redis } from "../rate-limit-support.ts";
import { applyConfig, gateway } from "../support.ts";

const TIMEOUT_MS = 300;
/** Scheduling slack on a loaded CI machine; the point is "the timeout, not Upstash's 5 s". */
const SLACK_MS = 1_500;

async function timed(path: string): Promise<{ response: Response; ms: number }> {
  const started = performance.now();
  const response = await gateway(path);
  await response.arrayBuffer();
  return { response, ms: performance.now() - started };
}

/** Waits until Redis answers through the gateway again (the client reconnects with backoff). */
async function untilEnforcing(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { response } = await timed(path);
    if (response.headers.has("ratelimit")) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("limits did not come back after Redis restarted");
}

describe("Upstash unavailable mid-test", () => {
  afterEach(async () => {
    await redis("start");
  });

  it("fails open within the timeout, keeps serving, counts it, and enforces again once Redis is back", async () => {
    const config = limitedConfig([
      { id: "quota", limit: 1000, windowSec: 3600, backend: "upstash", onFailure: "open", timeoutMs: TIMEOUT_MS },
    ]);
    await applyConfig(config);
    expect((await timed("/x")).response.status).toBe(200);
    const routeId = config.routes[0]?.id as string;
    const before = counterSum(await gatewayCounters(), `rate_limit_decisions_total{route="${routeId}",policy="quota",outcome="fail_open"}`);

    await redis("stop");
    for (let i = 0; i < 5; i++) {
      const { response, ms } = await timed("/x");
      expect(response.status).toBe(200);
      expect(response.headers.has("ratelimit")).toBe(false);
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    const after = counterSum(await gatewayCounters(), `rate_limit_decisions_total{route="${routeId}",policy="quota",outcome="fail_open"}`);
    expect(after - before).toBe(5);

    await redis("start");
    await untilEnforcing("/x");
  });

  it("fails closed with 503 problem+json and Retry-After within the timeout, never a 500", async () => {
    await applyConfig(
      limitedConfig([{ id: "strict", limit: 1000, windowSec: 3600, backend: "upstash", onFailure: "closed", timeoutMs: TIMEOUT_MS }]),
    );
    expect((await timed("/x")).response.status).toBe(200);
    await redis("stop");
    for (let i = 0; i < 3; i++) {
      const { response, ms } = await timed("/x");
      expect(response.status).toBe(503);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(response.headers.get("retry-after")).toBe("1");
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    // The gateway itself keeps answering.
    expect((await gateway("/__gateway/health")).status).toBe(200);
    await redis("start");
    await untilEnforcing("/x");
  });

  it("a local-first policy keeps spending its lease while Redis is down, then applies the failure mode", async () => {
    await applyConfig(
      limitedConfig([
        {
          id: "lf",
          limit: 1000,
          windowSec: 3600,
          backend: "upstash",
          mode: "local-first",
          leaseSize: 8,
          onFailure: "closed",
          timeoutMs: TIMEOUT_MS,
        },
      ]),
    );
    expect((await gateway("/x")).status).toBe(200);
    await redis("stop");
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await timed("/x")).response.status);
    // The lease held when Redis went away is spent first (at most 8 tokens); then 503s.
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(8);
    expect(statuses.at(-1)).toBe(503);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
  });
});

describe("Upstash errors other than timeouts", () => {
  it("an auth failure (wrong token) is a failure, never a 500", async () => {
    const spec = { algorithm: "fixed-window" as const, limit: 5, windowMs: 60_000, refill: 5 };
    const wrong = new UpstashLimiter({ url: env.UPSTASH_REDIS_REST_URL, token: "not-the-token" }, "edgegate:test", spec, TIMEOUT_MS);
    await expect(wrong.take("k", 1)).rejects.toMatchObject({ name: "LimiterError", failure: "error" });
    const unconfigured = new UpstashLimiter({ url: undefined, token: undefined }, "edgegate:test", spec, TIMEOUT_MS);
    await expect(unconfigured.take("k", 1)).rejects.toMatchObject({ failure: "unconfigured" });
  });

  it("a script error (a key of the wrong type in Redis) fails open or closed as configured", async () => {
    const open = limitedConfig([{ id: "tb", algorithm: "token-bucket", limit: 5, windowSec: 60, backend: "upstash", onFailure: "open" }]);
    const routeId = open.routes[0]?.id as string;
    // The token-bucket script expects a hash where this puts a list: Redis answers WRONGTYPE.
    const key = `edgegate:rl:${routeId}:tb:token-bucket:60000:ip:203.0.113.7`;
    const command = await fetch(env.UPSTASH_REDIS_REST_URL as string, {
      method: "POST",
      headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
      body: JSON.stringify(["RPUSH", key, "x"]),
    });
    expect(command.ok).toBe(true);
    await applyConfig(open);
    // Past the cooldown an earlier test's Redis outage may have left in this isolate.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const admitted = await gateway("/x");
    expect(admitted.status).toBe(200);
    expect(admitted.headers.has("ratelimit")).toBe(false);
    // Past the isolate's one-second cooldown after the failure, the same key fails closed.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const closed = structuredClone(open);
    const route = closed.routes[0];
    if (route?.rateLimits?.[0]) route.rateLimits[0].onFailure = "closed";
    await applyConfig(closed);
    const refused = await gateway("/x");
    expect(refused.status).toBe(503);
    expect(await refused.text()).not.toContain("WRONGTYPE");
  });
});
