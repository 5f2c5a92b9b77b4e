import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { compileConfig } from "../../src/config/compile.ts";
import { parseConfig } from "../../src/config/schema.ts";
import type { Decision } from "../../src/lib/rate-limit/decision.ts";
import { limiterFor } from "../../src/services/rate-limit/limiter.ts";
import {
  burst,
  counterSum,
  countStatus,
  gatewayCounters,
  limitedConfig,
  type PolicyInput,
  warmDurableObjects,
} from "../rate-limit-support.ts";
import { applyConfig, gateway } from "../support.ts";

beforeAll(warmDurableObjects);

const BACKENDS = ["durable-object", "upstash"] as const;

/** The compiled policy of a one-route config, as an isolate would hold it. */
function compiledPolicy(policy: PolicyInput) {
  const parsed = parseConfig(limitedConfig([policy]), { allowPrivateUpstreams: true });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const snapshot = compileConfig(parsed.config, "test");
  const route = snapshot.table.lookup("gateway.test", "GET", "/x");
  if (route.kind !== "matched") throw new Error("no route");
  return route.payload.rateLimits[0] as NonNullable<(typeof route.payload.rateLimits)[0]>;
}

describe.each(BACKENDS)("local-first on %s", (backend) => {
  it("stays within limit + leaseSize × (isolates + 1) across several isolates' leases", async () => {
    const limit = 60;
    const leaseSize = 6;
    const isolates = 5;
    const policy = compiledPolicy({
      id: "shared",
      limit,
      windowSec: 3600,
      backend,
      mode: "local-first",
      leaseSize,
      algorithm: "sliding-window",
    });
    // Each limiter holds its own leases in its own memory, exactly what separate isolates hold;
    // all of them share the one real backend counter.
    const limiters = Array.from({ length: isolates }, () => limiterFor(policy, env));
    const background: Promise<unknown>[] = [];
    const decisions: Decision[] = [];
    // 4 × limit requests, in waves of concurrent requests spread over the isolates.
    for (let wave = 0; wave < 24; wave++) {
      const results = await Promise.all(
        Array.from(
          { length: 10 },
          (_, i) => limiters[(wave + i) % isolates]?.check("client-1", (w) => background.push(w)) as Decision | Promise<Decision>,
        ),
      );
      decisions.push(...results);
    }
    await Promise.allSettled(background);
    const admitted = decisions.filter((d) => d.kind === "allowed").length;
    expect(decisions.filter((d) => d.kind === "failed")).toEqual([]);
    expect(admitted).toBeLessThanOrEqual(limit + leaseSize * (isolates + 1));
    expect(admitted).toBeGreaterThanOrEqual(limit - leaseSize * isolates);
  });

  it("makes almost no limiter calls in the steady state and refuses from memory once exhausted", async () => {
    const config = limitedConfig([{ id: "lf", limit: 1_000_000, windowSec: 3600, backend, mode: "local-first", leaseSize: 200 }]);
    await applyConfig(config);
    const calls = `rate_limit_backend_calls_total{backend="${backend}"}`;
    const before = counterSum(await gatewayCounters(), calls);
    let admitted = 0;
    for (let i = 0; i < 10; i++) admitted += countStatus(await burst(50, () => "/x"), 200);
    expect(admitted).toBe(500);
    const made = counterSum(await gatewayCounters(), calls) - before;
    // 500 requests: the first lease (200), then renewals of at least 150 tokens each.
    expect(made).toBeLessThanOrEqual(4);
    expect(made).toBeGreaterThanOrEqual(1);
  });

  it("enforces the limit through the gateway with the documented slack", async () => {
    await applyConfig(limitedConfig([{ id: "lf", limit: 30, windowSec: 3600, backend, mode: "local-first", leaseSize: 5 }]));
    let admitted = 0;
    for (let i = 0; i < 6; i++) admitted += countStatus(await burst(20, () => "/x"), 200);
    expect(admitted).toBeLessThanOrEqual(30 + 5 * 2);
    expect(admitted).toBeGreaterThanOrEqual(30 - 5);
    const refused = await gateway("/x");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
