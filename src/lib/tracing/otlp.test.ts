import { describe, expect, it } from "vitest";
import { anyValue, exportRequest, unixNanos } from "./otlp.ts";
import type { Span } from "./spans.ts";

const span = (over: Partial<Span> = {}): Span => ({
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  parentSpanId: "b7ad6b7169203331",
  name: "GET api",
  kind: "server",
  startMs: 1_700_000_000_123,
  endMs: 1_700_000_000_456,
  attributes: {},
  error: false,
  ...over,
});

describe("OTLP JSON encoding", () => {
  it("writes times as exact decimal nanosecond strings", () => {
    expect(unixNanos(1_700_000_000_123)).toBe("1700000000123000000");
    expect(unixNanos(0)).toBe("0");
    for (const ms of [1, 999, 1_234_567_890_123, Number.MAX_SAFE_INTEGER]) expect(BigInt(unixNanos(ms))).toBe(BigInt(ms) * 1_000_000n);
  });

  it("types attribute values as OTLP AnyValue: strings, int64 as decimal strings, doubles, booleans", () => {
    expect(anyValue("x")).toEqual({ stringValue: "x" });
    expect(anyValue(200)).toEqual({ intValue: "200" });
    expect(anyValue(-3)).toEqual({ intValue: "-3" });
    expect(anyValue(0.5)).toEqual({ doubleValue: 0.5 });
    expect(anyValue(true)).toEqual({ boolValue: true });
    expect(anyValue(false)).toEqual({ boolValue: false });
  });

  it("encodes spans under one resource and scope, with kinds, parents and error status", () => {
    const body = exportRequest(
      [
        span({ attributes: { "http.response.status_code": 503, "http.route": "api" }, error: true }),
        span({ spanId: "1111111111111111", parentSpanId: null, kind: "client" }),
      ],
      { "service.name": "edgegate" },
    );
    expect(body.resourceSpans).toHaveLength(1);
    const [resourceSpans] = body.resourceSpans;
    expect(resourceSpans?.resource.attributes).toEqual([{ key: "service.name", value: { stringValue: "edgegate" } }]);
    expect(resourceSpans?.scopeSpans[0]?.scope).toEqual({ name: "edgegate" });
    const [server, client] = resourceSpans?.scopeSpans[0]?.spans ?? [];
    expect(server).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      parentSpanId: "b7ad6b7169203331",
      name: "GET api",
      kind: 2,
      startTimeUnixNano: "1700000000123000000",
      endTimeUnixNano: "1700000000456000000",
      attributes: [
        { key: "http.response.status_code", value: { intValue: "503" } },
        { key: "http.route", value: { stringValue: "api" } },
      ],
      status: { code: 2 },
    });
    expect(client?.kind).toBe(3);
    expect(client && "parentSpanId" in client).toBe(false);
    expect(client?.status).toEqual({});
    // Round-trips through JSON unchanged (no BigInt, no undefined fields).
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
  });

  it("never writes a span ending before it starts (clock skew between attempts)", () => {
    const body = exportRequest([span({ startMs: 10, endMs: 5 })], {});
    const encoded = body.resourceSpans[0]?.scopeSpans[0]?.spans[0];
    expect(encoded?.endTimeUnixNano).toBe(encoded?.startTimeUnixNano);
  });
});
