import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { linesDuring } from "../../../test/log-capture.ts";
import { warmDurableObjects } from "../../../test/rate-limit-support.ts";
import { BackgroundWork, freshName, installRoute, laterStages, recordingStageApp, send } from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import { rateLimit } from "./index.ts";

type PolicyInput = NonNullable<GatewayConfigInput["routes"][number]["rateLimits"]>[number];

const BACKEND_CALLS = 'rate_limit_backend_calls_total{backend="durable-object"}';

// Counters live in Durable Objects that outlive a test: every test has its own route (the
// counters' prefix) and its own tenant (the key). The timeout leaves room for a cold local object.
function limitedApp(policies: PolicyInput[], later = laterStages()) {
  const routed = installRoute({
    clusters: { o: { targets: [{ url: "http://127.0.0.1:9" }] } },
    routes: [{ id: freshName("rl"), match: { path: "/*" }, cluster: "o", rateLimits: policies.map((p) => ({ timeoutMs: 5_000, ...p })) }],
  });
  return { ...recordingStageApp(rateLimit, routed, later.handler), later };
}

const asTenant = (tenant: string) => ({ headers: { "x-tenant": tenant } });

/** Seconds until reset in a RateLimit item, checked to lie within the window. */
function resetSeconds(item: string | null | undefined, windowSec: number): number {
  const seconds = Number(/;t=(\d+)/.exec(item ?? "")?.[1]);
  expect(seconds).toBeGreaterThanOrEqual(0);
  expect(seconds).toBeLessThanOrEqual(windowSec);
  return seconds;
}

beforeAll(async () => {
  await warmDurableObjects();
});

describe("rate-limit stage", () => {
  it("admits up to an exact policy's limit, then answers 429 with RateLimit fields and Retry-After, per key", async () => {
    const { app, later, records } = limitedApp([{ id: "burst", limit: 2, windowSec: 60, key: ["header:x-tenant"] }]);
    const tenant = crypto.randomUUID();
    const first = await send(app, "/", asTenant(tenant), env);
    const second = await send(app, "/", asTenant(tenant), env);
    const third = await send(app, "/", asTenant(tenant), env);
    expect([first.status, second.status]).toEqual([200, 200]);
    for (const response of [first, second, third]) expect(response.headers.get("ratelimit-policy")).toBe('"burst";q=2;w=60');
    expect(first.headers.get("ratelimit")).toMatch(/^"burst";r=1;t=\d+$/);
    expect(second.headers.get("ratelimit")).toMatch(/^"burst";r=0;t=\d+$/);
    await expectProblem(third, 429, "rate-limited");
    expect(third.headers.get("ratelimit")).toMatch(/^"burst";r=0;t=\d+$/);
    resetSeconds(third.headers.get("ratelimit"), 60);
    const retryAfter = Number(third.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(later.calls).toBe(2);
    expect(records.map((r) => r.rateLimit)).toEqual(["allowed", "allowed", "denied"]);
    // Another key has a counter of its own.
    expect((await send(app, "/", asTenant(crypto.randomUUID()), env)).status).toBe(200);
  });

  it("puts the RateLimit fields on the errors of later stages too", async () => {
    const failing = laterStages(() => {
      throw new GatewayError("upstream-timeout", "The upstream did not answer in time.");
    });
    const { app } = limitedApp([{ id: "burst", limit: 5, windowSec: 60, key: ["header:x-tenant"] }], failing);
    const response = await send(app, "/", asTenant(crypto.randomUUID()), env);
    await expectProblem(response, 504, "upstream-timeout");
    expect(response.headers.get("ratelimit-policy")).toBe('"burst";q=5;w=60');
    expect(response.headers.get("ratelimit")).toMatch(/^"burst";r=4;t=\d+$/);
  });

  it("only counts and logs in shadow mode: nothing is refused and nothing is advertised", async () => {
    const { app, later, records } = limitedApp([{ id: "trial", limit: 1, windowSec: 60, key: ["header:x-tenant"], shadow: true }]);
    const tenant = crypto.randomUUID();
    const logged = await linesDuring("rate_limit.shadow_denied", async () => {
      for (let i = 0; i < 3; i++) {
        const response = await send(app, "/", asTenant(tenant), env);
        expect(response.status).toBe(200);
        expect(response.headers.get("ratelimit")).toBeNull();
        expect(response.headers.get("ratelimit-policy")).toBeNull();
      }
    });
    expect(later.calls).toBe(3);
    expect(records.map((r) => r.rateLimit)).toEqual(["allowed", "shadow-denied", "shadow-denied"]);
    // One line per policy per interval: a limit under attack does not flood the log.
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: "warn", policy: "trial" });
  });

  it("spends a local-first policy's lease from memory, and refuses once the backend has no more", async () => {
    const { app, later } = limitedApp([
      { id: "leased", limit: 3, windowSec: 60, key: ["header:x-tenant"], mode: "local-first", leaseSize: 3 },
    ]);
    const tenant = crypto.randomUUID();
    const work = new BackgroundWork();
    expect((await send(app, "/", asTenant(tenant), env, work)).status).toBe(200);
    await work.settled();
    const callsBefore = counterSnapshot()[BACKEND_CALLS] ?? 0;
    const second = await send(app, "/", asTenant(tenant), env, work);
    // Answered from the isolate's lease: no call to the backend.
    expect(counterSnapshot()[BACKEND_CALLS] ?? 0).toBe(callsBefore);
    expect(second.status).toBe(200);
    expect(second.headers.get("ratelimit")).toMatch(/^"leased";r=1;t=\d+$/);
    expect((await send(app, "/", asTenant(tenant), env, work)).status).toBe(200);
    await work.settled();
    await expectProblem(await send(app, "/", asTenant(tenant), env, work), 429, "rate-limited");
    expect(later.calls).toBe(3);
  });

  it("fails closed with 503 or open as the policy says when its backend is missing", async () => {
    const unbound: Bindings = { CONFIG: env.CONFIG };
    const decisions = (policy: string, outcome: string) =>
      Object.entries(counterSnapshot())
        .filter(
          ([key]) =>
            key.startsWith("rate_limit_decisions_total{") && key.includes(`policy="${policy}"`) && key.includes(`outcome="${outcome}"`),
        )
        .reduce((n, [, value]) => n + value, 0);
    const [closedBefore, openBefore] = [decisions("strict", "fail_closed"), decisions("lenient", "fail_open")];
    const closed = limitedApp([{ id: "strict", limit: 5, windowSec: 60, onFailure: "closed" }]);
    const logged = await linesDuring("rate_limit.fail_closed", async () => {
      const response = await send(closed.app, "/", {}, unbound);
      await expectProblem(response, 503, "rate-limit-unavailable");
      expect(response.headers.get("retry-after")).toBe("1");
    });
    expect(closed.later.calls).toBe(0);
    expect(logged[0]).toMatchObject({ policy: "strict", failure: "unconfigured" });

    const open = limitedApp([{ id: "lenient", limit: 5, windowSec: 60, onFailure: "open" }]);
    expect((await send(open.app, "/", {}, unbound)).status).toBe(200);
    expect(open.later.calls).toBe(1);
    expect(open.records[0]?.rateLimit).toBe("fail-open");
    expect(decisions("strict", "fail_closed")).toBe(closedBefore + 1);
    expect(decisions("lenient", "fail_open")).toBe(openBefore + 1);
  });
});
