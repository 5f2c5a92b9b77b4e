/**
 * Tracing's sampling and failures: a zero share exports no success but every 5xx, a caller's
 * sampled flag decides for its trace, and a collector that is down neither fails nor slows a
 * request; its failed exports are counted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { publishConfig } from "../../src/config/store.ts";
import { ADMIN_TOKEN } from "../admin-support.ts";
import { linesDuring } from "../log-capture.ts";
import { applyConfig, closedOrigin, gateway, simpleConfig } from "../support.ts";
import { CLIENT, callerTrace, receivedSpans, SERVER, spansOfTrace, traced } from "../tracing-support.ts";

async function isolateCounter(key: string): Promise<number> {
  const response = await gateway("/__gateway/admin/metrics?format=json", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await response.json()) as { isolateCounters: Record<string, number> }).isolateCounters[key] ?? 0;
}

/** Long enough for a batch of one to have reached the receiver, had it been exported. */
const SETTLE_MS = 300;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

describe("tracing sampling", () => {
  it("exports no success at a zero share, with or without the caller's trace, and tells the origin it is not sampled", async () => {
    await applyConfig(traced(simpleConfig({ rewrite: { path: "/echo" } }), { sampleRate: 0 }));
    const fresh = await gateway("/x");
    const freshTraceparent = ((await fresh.json()) as { headers: Record<string, string> }).headers.traceparent as string;
    expect(freshTraceparent).toMatch(/-00$/);
    const unsampledCaller = callerTrace("00");
    const continued = await gateway("/x", { headers: { traceparent: unsampledCaller.traceparent } });
    expect(((await continued.json()) as { headers: Record<string, string> }).headers.traceparent).toMatch(/-00$/);
    await settle();
    expect(await receivedSpans(freshTraceparent.slice(3, 35))).toEqual([]);
    expect(await receivedSpans(unsampledCaller.traceId)).toEqual([]);
  });

  it("exports every 5xx at a zero share: the upstream's, and the gateway's own", async () => {
    await applyConfig(traced(simpleConfig(), { sampleRate: 0 }));
    const upstreamError = callerTrace("00");
    const response = await gateway("/status/500", { headers: { traceparent: upstreamError.traceparent } });
    expect(response.status).toBe(500);
    await response.text();
    const spans = await spansOfTrace(upstreamError.traceId, 2);
    expect(spans.map((s) => s.kind).sort()).toEqual([SERVER, CLIENT]);
    expect(spans.every((s) => s.status.code === 2)).toBe(true);

    await applyConfig(traced(simpleConfig({}, { targets: [{ url: closedOrigin }] }), { sampleRate: 0 }));
    const unreachable = callerTrace("00");
    const refused = await gateway("/x", { headers: { traceparent: unreachable.traceparent } });
    expect(refused.status).toBe(502);
    await refused.text();
    const failed = await spansOfTrace(unreachable.traceId, 2);
    const client = failed.find((s) => s.kind === CLIENT);
    expect(client?.attributes).toContainEqual({ key: "error.type", value: { stringValue: "connect-failure" } });
    expect(failed.find((s) => s.kind === SERVER)?.attributes).toContainEqual({
      key: "http.response.status_code",
      value: { intValue: "502" },
    });
  });

  it("follows the caller's sampled flag over the configured share, both ways", async () => {
    await applyConfig(traced(simpleConfig(), { sampleRate: 0 }));
    const sampledCaller = callerTrace("01");
    await (await gateway("/echo/s", { headers: { traceparent: sampledCaller.traceparent } })).text();
    expect((await spansOfTrace(sampledCaller.traceId, 2)).length).toBe(2);

    await applyConfig(traced(simpleConfig(), { sampleRate: 1 }));
    const unsampledCaller = callerTrace("00");
    await (await gateway("/echo/u", { headers: { traceparent: unsampledCaller.traceparent } })).text();
    await settle();
    expect(await receivedSpans(unsampledCaller.traceId)).toEqual([]);
  });
});

describe("tracing export failures", () => {
  it("neither fails nor slows a request when the collector is down, and counts the failed export", async () => {
    await applyConfig(traced(simpleConfig(), { endpoint: `${closedOrigin}/v1/traces` }));
    const before = await isolateCounter("tracing_export_failures_total");
    const warnings = await linesDuring("tracing-export-failed", async () => {
      const started = Date.now();
      const response = await gateway("/echo/down");
      expect(response.status).toBe(200);
      await response.text();
      expect(Date.now() - started).toBeLessThan(1_000);
      await settle();
    });
    expect(await isolateCounter("tracing_export_failures_total")).toBeGreaterThan(before);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatchObject({ level: "warn", problem: "the collector could not be reached" });
  });

  it("counts a failed export when a secret header's binding is missing, and still answers the request", async () => {
    // Published without the deployment check (as an offline CLI would): the export finds no secret.
    const before = await isolateCounter("tracing_export_failures_total");
    const published = await publishConfig(
      env.CONFIG,
      traced(simpleConfig(), { headers: { authorization: { secret: "NO_SUCH_SECRET" } } }),
      { allowPrivateUpstreams: true },
    );
    expect(published.ok).toBe(true);
    for (let i = 0; i < 200; i++) {
      const health = (await (await gateway("/__gateway/health")).json()) as { config: { version: string | null } };
      if (published.ok && health.config.version === published.version) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const response = await gateway("/echo/nosecret");
    expect(response.status).toBe(200);
    await response.text();
    await settle();
    expect(await isolateCounter("tracing_export_failures_total")).toBeGreaterThan(before);
  });
});
