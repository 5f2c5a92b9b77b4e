/**
 * Every counter family the gateway exposes moves when its feature acts, as the fleet sees it (the
 * admin metrics in the text format, summed over the aggregator shards): traffic splits, mirrors,
 * Idempotency-Keys, policy decisions, the breaker's refusals and state transitions. Families with
 * tests of their own (rate limiting, coalescing, request counters) are asserted there.
 */
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import {
  type Backend,
  backendHits,
  breakerConfig,
  freshClusterName,
  QUICK_BREAKER,
  setBackend,
  startBackends,
  traffic,
  until,
} from "../breaker-support.ts";
import { scrape, scrapeUntil, sumOf } from "../metrics-support.ts";
import { applyConfig, gateway, origin, simpleConfig } from "../support.ts";

const freshId = () => `mc-${crypto.randomUUID().slice(0, 8)}`;

describe("feature counters, fleet-wide", () => {
  it("split_requests_total: by side and by how the side was chosen", async () => {
    const id = freshId();
    const config: GatewayConfigInput = {
      clusters: { stable: { targets: [{ url: origin }] }, canary: { targets: [{ url: origin }] } },
      routes: [
        {
          id,
          match: { path: "/*" },
          cluster: "stable",
          split: { to: [{ cluster: "canary", percent: 50 }], sticky: "header:x-user", override: { header: "x-side" } },
        },
      ],
    };
    await applyConfig(config);
    for (let i = 0; i < 20; i++) await (await gateway("/echo/x")).text();
    for (let i = 0; i < 3; i++) await (await gateway("/echo/x", { headers: { "x-user": `u${i}` } })).text();
    await (await gateway("/echo/x", { headers: { "x-side": "canary" } })).text();
    const { samples } = await scrape();
    expect(sumOf(samples, "split_requests_total", { route: id, how: "random" })).toBe(20);
    expect(sumOf(samples, "split_requests_total", { route: id, how: "sticky" })).toBe(3);
    expect(samples.get(`split_requests_total{route="${id}",cluster="canary",how="override"}`)).toBe(1);
    // Twenty random picks at 50%: both sides chosen (the chance of one side only is 2^-19).
    expect(sumOf(samples, "split_requests_total", { route: id, cluster: "canary", how: "random" })).toBeGreaterThan(0);
    expect(sumOf(samples, "split_requests_total", { route: id, cluster: "stable", how: "random" })).toBeGreaterThan(0);
  });

  it("mirror_requests_total: copies sent, and bodies too large to copy skipped", async () => {
    const id = freshId();
    await applyConfig({
      clusters: { primary: { targets: [{ url: origin }] }, shadow: { targets: [{ url: origin }] } },
      routes: [{ id, match: { path: "/*" }, cluster: "primary", mirror: { cluster: "shadow", maxBodyBytes: 4 } }],
    });
    for (let i = 0; i < 3; i++) await (await gateway("/echo/x")).text();
    await (await gateway("/echo/x", { method: "POST", body: "far more than four bytes" })).text();
    const { samples } = await scrapeUntil("mirror_requests_total", { route: id, outcome: "sent" }, 3);
    expect(samples.get(`mirror_requests_total{route="${id}",outcome="sent"}`)).toBe(3);
    expect(samples.get(`mirror_requests_total{route="${id}",outcome="skipped_body"}`)).toBe(1);
  });

  it("idempotency_requests_total: first, replayed, mismatch, conflict and released", async () => {
    const id = freshId();
    await applyConfig(simpleConfig({ id, idempotency: {} }));
    const post = (key: string, body: string) =>
      gateway(`/count?key=${key}`, { method: "POST", body, headers: { "idempotency-key": key, "content-type": "text/plain" } });
    const key = crypto.randomUUID();
    expect((await post(key, "one")).status).toBe(200);
    expect((await post(key, "one")).headers.get("idempotent-replayed")).toBe("true");
    expect((await post(key, "two")).status).toBe(422);
    // A duplicate while the first is still in flight: 409; a 5xx answer releases its key.
    const slow = crypto.randomUUID();
    const slowPost = (path: string) =>
      gateway(path, { method: "POST", body: "s", headers: { "idempotency-key": slow, "content-type": "text/plain" } });
    const first = slowPost(`/slow?ms=500&key=${slow}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await slowPost(`/slow?ms=500&key=${slow}`)).status).toBe(409);
    expect((await first).status).toBe(200);
    const failing = crypto.randomUUID();
    const failed = await gateway("/status/503", {
      method: "POST",
      body: "f",
      headers: { "idempotency-key": failing, "content-type": "text/plain" },
    });
    expect(failed.status).toBe(503);
    const { samples } = await scrape();
    expect(samples.get(`idempotency_requests_total{route="${id}",outcome="first"}`)).toBe(3);
    expect(samples.get(`idempotency_requests_total{route="${id}",outcome="replayed"}`)).toBe(1);
    expect(samples.get(`idempotency_requests_total{route="${id}",outcome="mismatch"}`)).toBe(1);
    expect(samples.get(`idempotency_requests_total{route="${id}",outcome="conflict"}`)).toBe(1);
    expect(samples.get(`idempotency_requests_total{route="${id}",outcome="released"}`)).toBe(1);
  });

  it("policy_decisions_total: each policy's decision, by route", async () => {
    const id = freshId();
    await applyConfig({
      ...simpleConfig({ id, policies: { inbound: ["browsers"] } }),
      policies: { browsers: { use: "cors", options: { origins: ["https://app.example.com"] } } },
    });
    await (await gateway("/echo/x", { headers: { origin: "https://app.example.com" } })).text();
    await (await gateway("/echo/x", { headers: { origin: "https://evil.example.com" } })).text();
    await (await gateway("/echo/x")).text();
    const { samples } = await scrape();
    expect(samples.get(`policy_decisions_total{route="${id}",policy="browsers",decision="allowed"}`)).toBe(1);
    expect(samples.get(`policy_decisions_total{route="${id}",policy="browsers",decision="not-allowed"}`)).toBe(1);
    expect(samples.get(`policy_decisions_total{route="${id}",policy="browsers",decision="no-origin"}`)).toBe(1);
  });

  it("breaker_refusals_total{reason=overloaded}: requests over the cluster's in-flight cap", async () => {
    const [a] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [a], null, { maxInFlight: 2 }));
    await setBackend(a, "slow", 300);
    const statuses = (await Promise.all(Array.from({ length: 6 }, () => gateway(`/${name}/item`)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(4);
    const { samples } = await scrape();
    expect(samples.get(`breaker_refusals_total{cluster="${name}",reason="overloaded"}`)).toBe(4);
  });

  it("breaker_transitions_total and breaker_refusals_total{reason=down}: an ejection counted once, where it is decided", async () => {
    const [only] = (await startBackends(1)) as [Backend];
    const name = freshClusterName();
    await applyConfig(breakerConfig(name, [only], { ...QUICK_BREAKER, baseEjectionSec: 60, maxEjectionSec: 120 }));
    await setBackend(only, "error");
    await until(
      async () => (await traffic(name, 1))[0] === 503,
      () => traffic(name, 5),
    );
    const hits = await backendHits(only);
    const refused = await traffic(name, 3);
    expect(refused).toEqual([503, 503, 503]);
    expect(await backendHits(only)).toBe(hits);
    const { samples } = await scrape();
    expect(samples.get(`breaker_transitions_total{cluster="${name}",to="open"}`)).toBe(1);
    expect(samples.get(`breaker_refusals_total{cluster="${name}",reason="down"}`)).toBeGreaterThanOrEqual(4);
    expect(sumOf(samples, "breaker_reports_total", { cluster: name, outcome: "ok" })).toBeGreaterThan(0);
  });
});
