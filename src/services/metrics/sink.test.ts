import { describe, expect, it } from "vitest";
import type { RequestDataPoint } from "../../lib/request-record.ts";
import { AnalyticsEngineSink, localDataPoints, MemorySink, metricsSink } from "./sink.ts";

const point = (n: number): RequestDataPoint => ({ indexes: ["r"], blobs: ["r"], doubles: [n] });

describe("metrics sinks", () => {
  it("keeps the latest points in order, dropping the oldest", () => {
    const sink = new MemorySink(3);
    for (let i = 1; i <= 5; i++) sink.write(point(i));
    expect(sink.recent().map((p) => p.doubles[0])).toEqual([3, 4, 5]);
  });

  it("writes to Analytics Engine as given, and swallows a failing dataset", () => {
    const written: unknown[] = [];
    new AnalyticsEngineSink({ writeDataPoint: (p) => written.push(p) } as AnalyticsEngineDataset).write(point(7));
    expect(written).toEqual([point(7)]);
    const broken = new AnalyticsEngineSink({
      writeDataPoint: () => {
        throw new Error("down");
      },
    } as AnalyticsEngineDataset);
    expect(() => broken.write(point(1))).not.toThrow();
  });

  it("writes to the local ring without a binding, and to both with one, reusing one sink per dataset", () => {
    const written: unknown[] = [];
    const dataset = { writeDataPoint: (p) => written.push(p) } as AnalyticsEngineDataset;
    expect(metricsSink(dataset)).toBe(metricsSink(dataset));
    expect(metricsSink(undefined)).toBe(localDataPoints);
    metricsSink(dataset).write(point(42));
    expect(written).toEqual([point(42)]);
    expect(localDataPoints.recent().at(-1)).toEqual(point(42));
  });
});
