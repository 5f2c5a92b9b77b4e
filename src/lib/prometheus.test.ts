import { describe, expect, it } from "vitest";
import { DURATION_BUCKETS_SEC, histogramKeys, metricKey } from "./metrics.ts";
import { prometheusText } from "./prometheus.ts";

/** The sample lines of `text` (no comments), as name{labels} -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe("the Prometheus text exposition", () => {
  it("writes HELP and TYPE once per family, counters by the _total rule, gauges otherwise", () => {
    const text = prometheusText({
      [metricKey("http_requests_total", { route: "a", method: "GET", class: "2xx" })]: 3,
      [metricKey("http_requests_total", { route: "b", method: "GET", class: "5xx" })]: 1,
      [metricKey("feature_things_total", { route: "a" })]: 2,
      [metricKey("coalesce_buffered_bytes", { route: "a" })]: 10,
    });
    const lines = text.split("\n");
    expect(lines.filter((line) => line.startsWith("# TYPE http_requests_total "))).toEqual(["# TYPE http_requests_total counter"]);
    expect(lines.filter((line) => line.startsWith("# HELP http_requests_total "))).toHaveLength(1);
    // A family nobody listed still gets a HELP line and the type its name says.
    expect(lines).toContain("# TYPE feature_things_total counter");
    expect(lines.some((line) => line.startsWith("# HELP feature_things_total "))).toBe(true);
    expect(lines).toContain("# TYPE coalesce_buffered_bytes gauge");
    expect(samples(text).get('http_requests_total{route="b",method="GET",class="5xx"}')).toBe(1);
    expect(text.endsWith("\n")).toBe(true);
    // Every family's samples follow its own TYPE line.
    let family = "";
    for (const line of lines) {
      if (line.startsWith("# TYPE ")) family = line.split(" ")[2] as string;
      else if (line !== "" && !line.startsWith("#")) expect(line.startsWith(family)).toBe(true);
    }
  });

  it("escapes backslash, double quote and line feed in label values, so any consumer name stays one valid line", () => {
    for (const value of ['a"b', "a\\b", "a\nb", 'x\\"\n"y', "plain"]) {
      const text = prometheusText({ [metricKey("http_consumer_requests_total", { route: "r", consumer: value, class: "2xx" })]: 1 });
      const sample = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
      expect(sample).toHaveLength(1);
      const escaped = value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
      expect(sample[0]).toBe(`http_consumer_requests_total{route="r",consumer="${escaped}",class="2xx"} 1`);
    }
  });

  it("makes per-bucket counts cumulative, writes every bucket up to +Inf, and derives _count", () => {
    const h = histogramKeys("http_request_duration_seconds", { route: "r" }, DURATION_BUCKETS_SEC);
    const at = (le: string) => h.buckets[[...DURATION_BUCKETS_SEC.map(String), "+Inf"].indexOf(le)] as string;
    const text = prometheusText({ [at("0.01")]: 2, [at("0.1")]: 3, [at("+Inf")]: 1, [h.sum]: 12.5 });
    const s = samples(text);
    expect(s.get('http_request_duration_seconds_bucket{route="r",le="0.005"}')).toBe(0);
    expect(s.get('http_request_duration_seconds_bucket{route="r",le="0.01"}')).toBe(2);
    expect(s.get('http_request_duration_seconds_bucket{route="r",le="0.05"}')).toBe(2);
    expect(s.get('http_request_duration_seconds_bucket{route="r",le="0.1"}')).toBe(5);
    expect(s.get('http_request_duration_seconds_bucket{route="r",le="+Inf"}')).toBe(6);
    expect(s.get('http_request_duration_seconds_sum{route="r"}')).toBe(12.5);
    expect(s.get('http_request_duration_seconds_count{route="r"}')).toBe(6);
    expect(text).toContain("# TYPE http_request_duration_seconds histogram");
    // Every declared bucket, in ascending order of le, +Inf last.
    const les = text
      .split("\n")
      .filter((line) => line.startsWith("http_request_duration_seconds_bucket"))
      .map((line) => /le="([^"]+)"/.exec(line)?.[1]);
    expect(les).toEqual([...DURATION_BUCKETS_SEC.map(String), "+Inf"]);
  });

  it("writes +Inf and _count for a histogram without label and without observations above its bounds, and every series every bound", () => {
    const h = histogramKeys("coalesce_followers_per_call", {}, [1, 4]);
    const other = histogramKeys("coalesce_followers_per_call", { route: "b" }, [1, 4]);
    const s = samples(prometheusText({ [h.buckets[1] as string]: 2, [h.sum]: 7, [other.buckets[0] as string]: 1 }));
    expect(s.get('coalesce_followers_per_call_bucket{le="1"}')).toBe(0);
    expect(s.get('coalesce_followers_per_call_bucket{le="4"}')).toBe(2);
    expect(s.get('coalesce_followers_per_call_bucket{route="b",le="4"}')).toBe(1);
    expect(s.get('coalesce_followers_per_call_count{route="b"}')).toBe(1);
    expect(s.get('coalesce_followers_per_call_bucket{le="+Inf"}')).toBe(2);
    expect(s.get("coalesce_followers_per_call_count")).toBe(2);
    expect(s.get("coalesce_followers_per_call_sum")).toBe(7);
  });

  it("answers an empty body for no counters", () => {
    expect(prometheusText({})).toBe("");
  });
});
