/**
 * The fleet's metrics at /__gateway/admin/metrics: request counters and duration histograms summed
 * over the aggregator shards, in the Prometheus text format by default and as JSON on request, and
 * the consumer in the metrics (when the config names it), the access log and the data point.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApiKey } from "../../src/services/api-keys/store.ts";
import { ADMIN_TOKEN } from "../admin-support.ts";
import { linesDuring } from "../log-capture.ts";
import { scrape, sumOf } from "../metrics-support.ts";
import { applyConfig, gateway, simpleConfig } from "../support.ts";

const freshId = () => `mx-${crypto.randomUUID().slice(0, 8)}`;

describe("fleet metrics in the Prometheus text format", () => {
  it("counts requests by route, method and status class, with request and upstream duration histograms", async () => {
    const id = freshId();
    await applyConfig(simpleConfig({ id }));
    for (let i = 0; i < 3; i++) await (await gateway("/echo/x")).text();
    await (await gateway("/status/404")).text();
    await (await gateway("/echo/x", { method: "POST", body: "x" })).text();
    await (await gateway("/echo/x", { method: "OPTIONS" })).text();

    const { samples, types, response } = await scrape();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(response.headers.get("x-edgegate-metrics-scope")).toBe("fleet");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(samples.get(`http_requests_total{route="${id}",method="GET",class="2xx"}`)).toBe(3);
    expect(samples.get(`http_requests_total{route="${id}",method="GET",class="4xx"}`)).toBe(1);
    expect(samples.get(`http_requests_total{route="${id}",method="POST",class="2xx"}`)).toBe(1);
    expect(sumOf(samples, "http_requests_total", { route: id, method: "OPTIONS" })).toBe(1);
    expect(types.get("http_requests_total")).toBe("counter");

    for (const family of ["http_request_duration_seconds", "http_upstream_duration_seconds"]) {
      expect(types.get(family)).toBe("histogram");
      expect(samples.get(`${family}_count{route="${id}"}`)).toBe(6);
      expect(samples.get(`${family}_bucket{route="${id}",le="+Inf"}`)).toBe(6);
      expect(samples.get(`${family}_sum{route="${id}"}`)).toBeGreaterThanOrEqual(0);
      // Cumulative: never decreasing with le.
      const buckets = [...samples].filter(([series]) => series.startsWith(`${family}_bucket{route="${id}",`)).map(([, v]) => v);
      expect(buckets.length).toBe(12);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1] as number);
    }
  });

  it("puts a slow upstream's requests in the buckets of their duration", async () => {
    const id = freshId();
    await applyConfig(simpleConfig({ id }));
    for (let i = 0; i < 4; i++) await (await gateway("/slow?ms=300")).text();
    const { samples } = await scrape();
    // 300 ms and a little more: above 0.25 s, at most 1 s.
    expect(samples.get(`http_upstream_duration_seconds_bucket{route="${id}",le="0.25"}`)).toBe(0);
    expect(samples.get(`http_upstream_duration_seconds_bucket{route="${id}",le="1"}`)).toBe(4);
    expect(samples.get(`http_request_duration_seconds_bucket{route="${id}",le="0.25"}`)).toBe(0);
    expect(samples.get(`http_request_duration_seconds_sum{route="${id}"}`)).toBeGreaterThanOrEqual(1.2);
  });

  it("answers JSON on ?format=json or Accept: application/json, with the fleet totals and this isolate's own counters", async () => {
    const id = freshId();
    await applyConfig(simpleConfig({ id }));
    await (await gateway("/echo/x")).text();
    const key = `http_requests_total{route="${id}",method="GET",class="2xx"}`;
    for (const [query, headers] of [
      ["?format=json", {}],
      ["", { accept: "application/json" }],
    ] as const) {
      const { response, text } = await scrape(query, headers);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      const body = JSON.parse(text) as {
        scope: string;
        counters: Record<string, number>;
        isolateCounters: Record<string, number>;
        dataPoints: unknown[];
      };
      expect(body.scope).toBe("fleet");
      expect(body.counters[key]).toBe(1);
      expect(body.isolateCounters[key]).toBe(1);
      expect(Array.isArray(body.dataPoints)).toBe(true);
    }
    // A scraper's Accept gets the text format.
    const scraper = await scrape("", { accept: "text/plain;version=0.0.4;q=1,*/*;q=0.1" });
    expect(scraper.response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it("counts its own reports to the aggregator", async () => {
    await scrape();
    const { samples } = await scrape();
    expect(samples.get('metrics_reports_total{outcome="ok"}')).toBeGreaterThan(0);
  });
});

describe("the consumer", () => {
  it("labels allow-listed consumers in the metrics (others as other, anonymous as -), and is in the access log and the data point", async () => {
    const id = freshId();
    const acme = await createApiKey(env.CONFIG, { consumer: "acme" });
    const globex = await createApiKey(env.CONFIG, { consumer: "globex" });
    await applyConfig({
      ...simpleConfig({ id, auth: { apiKey: {} } }),
      observability: { accessLog: { sampleRate: 1 }, metrics: { consumers: ["acme"] } },
    });
    const lines = await linesDuring("access", async () => {
      for (let i = 0; i < 2; i++) await (await gateway("/echo/x", { headers: { "x-api-key": acme.key } })).text();
      await (await gateway("/echo/x", { headers: { "x-api-key": globex.key } })).text();
      await (await gateway("/echo/x")).text();
    });
    expect(lines.map((line) => line.consumer)).toEqual(["acme", "acme", "globex", null]);

    const json = await (
      await gateway("/__gateway/admin/metrics?format=json", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json<{ dataPoints: Array<{ indexes: string[]; blobs: string[] }> }>();
    const mine = json.dataPoints.filter((point) => point.indexes[0] === id);
    expect(mine.map((point) => point.blobs[8])).toEqual(["acme", "acme", "globex", "-"]);

    const { samples } = await scrape();
    expect(samples.get(`http_consumer_requests_total{route="${id}",consumer="acme",class="2xx"}`)).toBe(2);
    expect(samples.get(`http_consumer_requests_total{route="${id}",consumer="other",class="2xx"}`)).toBe(1);
    expect(samples.get(`http_consumer_requests_total{route="${id}",consumer="-",class="4xx"}`)).toBe(1);
    expect(sumOf(samples, "http_consumer_requests_total", { consumer: "globex" })).toBe(0);
  });

  it("has no consumer series unless the config names consumers", async () => {
    const id = freshId();
    const acme = await createApiKey(env.CONFIG, { consumer: "acme" });
    await applyConfig(simpleConfig({ id, auth: { apiKey: {} } }));
    await (await gateway("/echo/x", { headers: { "x-api-key": acme.key } })).text();
    const { samples } = await scrape();
    expect(samples.get(`http_requests_total{route="${id}",method="GET",class="2xx"}`)).toBe(1);
    expect(sumOf(samples, "http_consumer_requests_total", { route: id })).toBe(0);
  });
});
