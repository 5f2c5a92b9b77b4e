import { beforeAll, describe, expect, it } from "vitest";
import { loggedLines } from "../log-capture.ts";
import { burst, counterSum, countStatus, gatewayCounters, limitedConfig, warmDurableObjects } from "../rate-limit-support.ts";
import { applyConfig, gateway, originHits } from "../support.ts";

beforeAll(warmDurableObjects);

describe("rate-limit keys and enforcement", () => {
  it("keys on the connecting address: spoofed X-Forwarded-For, X-Real-IP or Forwarded change nothing", async () => {
    await applyConfig(limitedConfig([{ id: "per-ip", limit: 2, windowSec: 3600 }]));
    const spoof = (i: number) => ({
      clientIp: "198.51.100.9",
      headers: {
        "x-forwarded-for": `10.0.0.${i}`,
        "x-real-ip": `10.1.0.${i}`,
        forwarded: `for=10.2.0.${i}`,
        "true-client-ip": `10.3.0.${i}`,
      },
    });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await gateway("/x", spoof(i))).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    // Another connecting address has its own counter.
    expect((await gateway("/x", { clientIp: "198.51.100.10" })).status).toBe(200);
  });

  it("refuses a limited request before it reaches the upstream, body and all", async () => {
    await applyConfig(limitedConfig([{ id: "one", limit: 1, windowSec: 3600 }], { match: { path: "/*", methods: ["POST"] } }));
    const hit = crypto.randomUUID();
    const post = () => gateway(`/x?key=${hit}`, { method: "POST", body: "payload" });
    expect((await post()).status).toBe(200);
    expect((await post()).status).toBe(429);
    expect(await originHits(hit)).toBe(1);
  });

  it("shadow mode counts and logs what it would refuse, refuses nothing, and advertises nothing", async () => {
    const config = limitedConfig([{ id: "trial", limit: 3, windowSec: 3600, shadow: true }]);
    await applyConfig(config);
    const responses = await burst(10, () => "/x");
    expect(countStatus(responses, 200)).toBe(10);
    expect(responses.some((r) => r.headers.has("ratelimit") || r.headers.has("ratelimit-policy"))).toBe(false);
    const route = config.routes[0]?.id as string;
    const counters = await gatewayCounters();
    expect(counterSum(counters, `rate_limit_decisions_total{route="${route}",policy="trial",outcome="shadow_denied"}`)).toBe(7);
    expect(counterSum(counters, `rate_limit_decisions_total{route="${route}",policy="trial",outcome="allowed"}`)).toBe(3);
    // One line for the burst: the log is throttled per policy.
    const logged = loggedLines().filter((line) => line.event === "rate_limit.shadow_denied" && line.route === route);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: "warn", policy: "trial", suppressedSinceLast: 0 });
  });

  it("keeps identity-keyed counters per caller", async () => {
    await applyConfig(limitedConfig([{ id: "tenant", limit: 1, windowSec: 3600, key: ["header:x-tenant"] }]));
    expect((await gateway("/x", { headers: { "x-tenant": "a" } })).status).toBe(200);
    expect((await gateway("/x", { headers: { "x-tenant": "a" } })).status).toBe(429);
    expect((await gateway("/x", { headers: { "x-tenant": "b" } })).status).toBe(200);
    // Without the header, the caller falls back to its own address, not to one shared counter.
    expect((await gateway("/x", { clientIp: "192.0.2.50" })).status).toBe(200);
    expect((await gateway("/x", { clientIp: "192.0.2.51" })).status).toBe(200);
  });

  it("guards the admin metrics with the admin token", async () => {
    expect((await gateway("/__gateway/admin/metrics")).status).toBe(401);
    const wrong = await gateway("/__gateway/admin/metrics", { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("content-type")).toBe("application/problem+json");
  });
});
