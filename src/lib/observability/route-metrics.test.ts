import { describe, expect, it } from "vitest";
import { counterSnapshot } from "../metrics.ts";
import { newRequestRecord } from "../request-record.ts";
import { countRequest, routeMetrics } from "./route-metrics.ts";

describe("a route's request metrics", () => {
  it("gives every method outside the known set the one label other: a client cannot mint label values", () => {
    const route = `r-${crypto.randomUUID()}`;
    const metrics = routeMetrics(route, null);
    for (const method of ["BREW", "PROPFIND", "get", "X".repeat(100)]) countRequest(metrics, newRequestRecord(method, 0), 200, 5);
    countRequest(metrics, newRequestRecord("GET", 0), 200, 5);
    const counters = counterSnapshot();
    expect(counters[`http_requests_total{route="${route}",method="other",class="2xx"}`]).toBe(4);
    expect(counters[`http_requests_total{route="${route}",method="GET",class="2xx"}`]).toBe(1);
    expect(Object.keys(counters).filter((key) => key.includes(route) && key.startsWith("http_requests_total"))).toHaveLength(2);
  });

  it("bounds the consumer label by the allow-list: others are other, anonymous callers -", () => {
    const route = `r-${crypto.randomUUID()}`;
    const metrics = routeMetrics(route, ["acme"]);
    const as = (consumer: string | null) => ({ ...newRequestRecord("GET", 0), consumer });
    countRequest(metrics, as("acme"), 200, 1);
    for (const consumer of ["globex", 'a"b', "other"]) countRequest(metrics, as(consumer), 500, 1);
    countRequest(metrics, as(null), 401, 1);
    const counters = counterSnapshot();
    const series = Object.keys(counters).filter((key) => key.startsWith(`http_consumer_requests_total{route="${route}"`));
    expect(series.sort()).toEqual(
      [
        `http_consumer_requests_total{route="${route}",consumer="-",class="4xx"}`,
        `http_consumer_requests_total{route="${route}",consumer="acme",class="2xx"}`,
        `http_consumer_requests_total{route="${route}",consumer="other",class="5xx"}`,
      ].sort(),
    );
    expect(counters[`http_consumer_requests_total{route="${route}",consumer="other",class="5xx"}`]).toBe(3);
  });

  it("counts no upstream time for a request that made no upstream call", () => {
    const route = `r-${crypto.randomUUID()}`;
    const metrics = routeMetrics(route, null);
    countRequest(metrics, newRequestRecord("GET", 0), 404, 3);
    countRequest(metrics, { ...newRequestRecord("GET", 0), upstreamMs: 20 }, 200, 25);
    const counters = counterSnapshot();
    expect(metrics.duration.buckets.reduce((n, key) => n + (counters[key] ?? 0), 0)).toBe(2);
    expect(metrics.upstream.buckets.reduce((n, key) => n + (counters[key] ?? 0), 0)).toBe(1);
    expect(counters[metrics.upstream.sum]).toBeCloseTo(0.02);
  });
});
