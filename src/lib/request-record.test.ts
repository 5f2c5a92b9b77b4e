import { describe, expect, it } from "vitest";
import { accessLogLine, dataPoint, newRequestRecord, sampled, serverTiming, traceIdOf } from "./request-record.ts";

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function routed() {
  const record = newRequestRecord("GET", 1_000);
  Object.assign(record, {
    path: "/users/1",
    routeId: "users",
    cluster: "users",
    target: "https://a.example.com",
    attempts: 2,
    upstreamMs: 30,
    upstreamStatus: 200,
    auth: "jwt",
    rateLimit: "allowed",
    breaker: "routed",
    coalesce: "leader",
    consumer: "acme",
  });
  return record;
}

describe("request record", () => {
  it("takes the trace id from traceparent", () => {
    expect(traceIdOf(traceparent)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("logs what every stage decided, with durations", () => {
    const line = accessLogLine(routed(), { status: 200, requestId: "r1", traceparent, now: 1_045 });
    expect(line).toMatchObject({
      level: "info",
      event: "access",
      requestId: "r1",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      route: "users",
      consumer: "acme",
      cluster: "users",
      target: "https://a.example.com",
      status: 200,
      durationMs: 45,
      upstreamMs: 30,
      decisions: { auth: "jwt", split: null, rateLimit: "allowed", idempotency: null, breaker: "routed", coalesce: "leader" },
    });
    expect(accessLogLine(routed(), { status: 502, requestId: "r", traceparent, now: 1_001 }).level).toBe("error");
    // An anonymous request: the field is there, null.
    expect(accessLogLine(newRequestRecord("GET", 0), { status: 200, requestId: "r", traceparent, now: 1 }).consumer).toBeNull();
  });

  it("samples successes and keeps every error when asked to", () => {
    const settings = { sampleRate: 0.1, errors: true };
    expect(sampled(200, routed(), settings, 0.05)).toBe(true);
    expect(sampled(200, routed(), settings, 0.5)).toBe(false);
    expect(sampled(503, routed(), settings, 0.99)).toBe(true);
    expect(sampled(503, routed(), { ...settings, errors: false }, 0.99)).toBe(false);
    const upstreamError = { ...routed(), upstreamStatus: 500 };
    expect(sampled(500, upstreamError, settings, 0.99)).toBe(true);
  });

  it("shapes one data point per request", () => {
    expect(dataPoint(routed(), 200, 1_045)).toEqual({
      indexes: ["users"],
      blobs: ["users", "users", "GET", "2xx", "jwt", "allowed", "routed", "leader", "acme"],
      doubles: [200, 45, 30, 2],
    });
    const unmatched = dataPoint(newRequestRecord("GET", 0), 404, 2);
    expect(unmatched.indexes).toEqual(["-"]);
    expect(unmatched.doubles).toEqual([404, 2, -1, 0]);
    expect(unmatched.blobs[8]).toBe("-");
  });

  it("splits Server-Timing between the gateway and the upstream", () => {
    expect(serverTiming(routed(), 1_045)).toBe("gateway;dur=15, upstream;dur=30");
    expect(serverTiming(newRequestRecord("GET", 1_000), 1_003)).toBe("gateway;dur=3");
  });
});
