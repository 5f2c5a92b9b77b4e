import { describe, expect, it } from "vitest";
import { newRequestRecord } from "../request-record.ts";
import { attemptSpan, attemptTraceparent, clientSpan, exportsTrace, serverSpan, traceRecordFor } from "./spans.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const GATEWAY = `00-${TRACE}-1234567890abcdef-01`;

describe("trace record", () => {
  it("takes the caller's span as parent and its sampled flag over the configured share", () => {
    for (const [flags, sampled] of [
      ["01", true],
      ["00", false],
      ["03", true],
      ["02", false],
    ] as const) {
      for (const share of [0, 1]) {
        const trace = traceRecordFor(`00-${TRACE}-b7ad6b7169203331-${flags}`, GATEWAY, share, 0.5);
        expect(trace).toMatchObject({ traceId: TRACE, serverSpanId: "1234567890abcdef", parentSpanId: "b7ad6b7169203331", sampled });
      }
    }
  });

  it("samples a trace the gateway started by the share, with no parent", () => {
    for (const incoming of [null, "garbage", `00-${"0".repeat(32)}-b7ad6b7169203331-01`, `ff-${TRACE}-b7ad6b7169203331-01`]) {
      expect(traceRecordFor(incoming, `00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1234567890abcdef-01`, 0.25, 0.1)).toMatchObject({
        parentSpanId: null,
        sampled: true,
      });
      expect(traceRecordFor(incoming, `00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1234567890abcdef-01`, 0.25, 0.25).sampled).toBe(false);
    }
  });

  it("exports sampled traces, and unsampled ones that ended in or met a 5xx", () => {
    const unsampled = traceRecordFor(null, GATEWAY, 0, 0.5);
    const record = newRequestRecord("GET", 0);
    expect(exportsTrace(unsampled, record, 200)).toBe(false);
    expect(exportsTrace(unsampled, record, 499)).toBe(false);
    expect(exportsTrace(unsampled, record, 500)).toBe(true);
    expect(exportsTrace(unsampled, record, 502)).toBe(true);
    expect(exportsTrace(unsampled, { ...record, upstreamStatus: 503 }, 200)).toBe(true);
    expect(exportsTrace({ ...unsampled, sampled: true }, record, 200)).toBe(true);
  });

  it("names each attempt's span in the upstream traceparent, with the decision as the flag", () => {
    const trace = traceRecordFor(null, GATEWAY, 1, 0);
    const span = attemptSpan("attempt", "c", "http://a", 0);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(attemptTraceparent(trace, span.spanId)).toBe(`00-${TRACE}-${span.spanId}-01`);
    expect(attemptTraceparent({ ...trace, sampled: false }, span.spanId)).toBe(`00-${TRACE}-${span.spanId}-00`);
  });
});

describe("spans from the record", () => {
  it("puts every stage's decision and each policy's on the server span, and nothing for stages that did not apply", () => {
    const record = {
      ...newRequestRecord("POST", 1_000),
      path: "/orders",
      routeId: "orders",
      cluster: "api",
      target: "https://api.example.com/v1",
      attempts: 2,
      consumer: "acme",
      auth: "jwt" as const,
      rateLimit: "allowed" as const,
      idempotency: "first" as const,
      policies: [["cors", "allowed"]] as Array<[string, string]>,
    };
    const trace = traceRecordFor(null, GATEWAY, 1, 0);
    const span = serverSpan(record, trace, { status: 201, requestId: "r1", now: 1_050 });
    expect(span).toMatchObject({
      kind: "server",
      spanId: "1234567890abcdef",
      parentSpanId: null,
      startMs: 1_000,
      endMs: 1_050,
      error: false,
    });
    expect(span.attributes).toEqual({
      "http.request.method": "POST",
      "http.response.status_code": 201,
      "edgegate.request_id": "r1",
      "edgegate.attempts": 2,
      "url.path": "/orders",
      "http.route": "orders",
      "edgegate.cluster": "api",
      "edgegate.target": "https://api.example.com/v1",
      "edgegate.consumer": "acme",
      "edgegate.decision.auth": "jwt",
      "edgegate.decision.rate_limit": "allowed",
      "edgegate.decision.idempotency": "first",
      "edgegate.decision.policy.cors": "allowed",
    });
  });

  it("marks failed and 5xx attempts as errors, and mirror copies as such", () => {
    const record = { ...newRequestRecord("GET", 0), routeId: "r" };
    const trace = traceRecordFor(null, GATEWAY, 1, 0);
    const failed = { ...attemptSpan("attempt", "c", "http://10.0.0.1:8080/base", 5), endedAt: 9, failure: "timeout" };
    expect(clientSpan(record, trace, failed, 2)).toMatchObject({
      kind: "client",
      parentSpanId: "1234567890abcdef",
      error: true,
      attributes: { "error.type": "timeout", "server.address": "10.0.0.1:8080", "http.request.resend_count": 1, "edgegate.mirror": false },
    });
    const answered = { ...attemptSpan("attempt", "c", "http://a", 0), endedAt: 1, status: 502 };
    expect(clientSpan(record, trace, answered, 1).error).toBe(true);
    const ok = { ...attemptSpan("mirror", "shadow", "http://b", 0), endedAt: 1, status: 404 };
    const mirror = clientSpan(record, trace, ok, 0);
    expect(mirror.error).toBe(false);
    expect(mirror.attributes["edgegate.mirror"]).toBe(true);
    expect(mirror.attributes["http.request.resend_count"]).toBeUndefined();
  });
});
