import { describe, expect, it } from "vitest";
import { requestIdFrom, traceContextFrom } from "./trace.ts";

describe("requestIdFrom", () => {
  it("keeps a sane client id", () => {
    expect(requestIdFrom("abc-123_XYZ")).toBe("abc-123_XYZ");
  });
  it.each([null, "", "has space", "x".repeat(129), "bad\u0001char", "caf\u00e9"])("replaces %j with a UUID", (value) => {
    expect(requestIdFrom(value)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("traceContextFrom", () => {
  const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  it("continues a valid trace with a new parent id, keeping tracestate", () => {
    const trace = traceContextFrom(incoming, "vendor=abc");
    expect(trace.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(trace.traceparent).not.toContain("00f067aa0ba902b7");
    expect(trace.tracestate).toBe("vendor=abc");
  });

  it.each([
    null,
    "garbage",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    `${incoming}-extra`,
  ])("starts a new trace for %j and drops tracestate", (value) => {
    const trace = traceContextFrom(value, "vendor=abc");
    expect(trace.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(trace.traceparent).not.toContain("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(trace.tracestate).toBeNull();
  });

  it("accepts a future version's extra fields", () => {
    const trace = traceContextFrom("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future", null);
    expect(trace.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
  });
});
