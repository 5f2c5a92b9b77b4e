/**
 * What operators see: the access log line per request (sampled, errors always), the per-request
 * data point in the local fallback of Analytics Engine, response counters, and Server-Timing.
 */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "../admin-support.ts";
import { linesDuring } from "../log-capture.ts";
import { applyConfig, closedOrigin, gateway, simpleConfig } from "../support.ts";

interface Metrics {
  isolateCounters: Record<string, number>;
  dataPoints: Array<{ indexes: string[]; blobs: string[]; doubles: number[] }>;
}

async function metrics(): Promise<Metrics> {
  return (await (
    await gateway("/__gateway/admin/metrics?format=json", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  ).json()) as Metrics;
}

/** The access log lines written while `work` runs, as the captured log has them. */
function accessLines(work: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  return linesDuring("access", work);
}

describe("observability", () => {
  it("logs one structured line per sampled request with the route, target, durations, trace id and decisions", async () => {
    const id = `o-${crypto.randomUUID().slice(0, 6)}`;
    await applyConfig({ ...simpleConfig({ id, coalesce: {} }), observability: { accessLog: { sampleRate: 1 } } });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const lines = await accessLines(async () => {
      const response = await gateway("/echo/one?token=secret", {
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, "x-request-id": "req-abc" },
      });
      await response.text();
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      requestId: "req-abc",
      traceId,
      method: "GET",
      path: "/echo/one",
      status: 200,
      route: id,
      cluster: "origin",
      attempts: 1,
      upstreamStatus: 200,
      decisions: { auth: null, split: null, rateLimit: null, idempotency: null, breaker: null, coalesce: "leader" },
    });
    expect(String(lines[0]?.target)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(typeof lines[0]?.durationMs).toBe("number");
    expect(typeof lines[0]?.upstreamMs).toBe("number");
    // The query can carry credentials: it is never logged.
    expect(JSON.stringify(lines[0])).not.toContain("secret");
  });

  it("samples successes by the configured rate but always logs errors", async () => {
    await applyConfig({ ...simpleConfig({}, { targets: [{ url: closedOrigin }] }), observability: { accessLog: { sampleRate: 0 } } });
    const lines = await accessLines(async () => {
      for (let i = 0; i < 5; i++) await (await gateway("/anything")).text();
      await (await gateway("/__gateway/health")).text();
    });
    // Five 502s from a refused upstream, every one logged; the health check (200) sampled out.
    expect(lines.map((line) => line.status)).toEqual([502, 502, 502, 502, 502]);
    expect(lines.every((line) => line.level === "error")).toBe(true);
  });

  it("records one data point per request in the local fallback, and counts responses per route and class", async () => {
    const id = `m-${crypto.randomUUID().slice(0, 6)}`;
    await applyConfig(simpleConfig({ id }));
    for (let i = 0; i < 3; i++) await (await gateway("/echo/x")).text();
    await (await gateway("/status/404")).text();
    const { dataPoints, isolateCounters } = await metrics();
    const mine = dataPoints.filter((point) => point.indexes[0] === id);
    expect(mine).toHaveLength(4);
    expect(mine[0]?.blobs).toEqual([id, "origin", "GET", "2xx", "-", "-", "-", "-", "-"]);
    expect(mine[0]?.doubles[0]).toBe(200);
    expect(mine[3]?.blobs[3]).toBe("4xx");
    expect(isolateCounters[`http_requests_total{route="${id}",method="GET",class="2xx"}`]).toBe(3);
    expect(isolateCounters[`http_requests_total{route="${id}",method="GET",class="4xx"}`]).toBe(1);
  });

  it("adds Server-Timing with the gateway's and the upstream's share only when the config enables it", async () => {
    await applyConfig(simpleConfig());
    const off = await gateway("/slow?ms=30");
    expect(off.headers.get("server-timing")).toBeNull();
    await off.text();
    await applyConfig({ ...simpleConfig({ match: { path: "/slow" } }), observability: { serverTiming: true } });
    const on = await gateway("/slow?ms=30");
    await on.text();
    const timing = on.headers.get("server-timing") ?? "";
    expect(timing).toMatch(/^gateway;dur=\d+, upstream;dur=(\d+)$/);
    expect(Number(/upstream;dur=(\d+)/.exec(timing)?.[1])).toBeGreaterThanOrEqual(25);
    // The gateway's own answers carry it too (here a 404: no route).
    const problem = await gateway("/nothing");
    expect(problem.headers.get("server-timing")).toMatch(/^gateway;dur=\d+$/);
  });
});
