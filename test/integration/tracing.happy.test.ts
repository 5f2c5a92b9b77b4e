/**
 * Traces through the Worker to a real local OTLP/HTTP receiver: a server span per request whose
 * parent is the caller's span, a client span per upstream attempt and mirror copy under it, the
 * origin's traceparent naming the attempt's span, and every stage's decision as attributes.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApiKey } from "../../src/services/api-keys/store.ts";
import { applyConfig, gateway, origin, simpleConfig } from "../support.ts";
import { attributesOf, CLIENT, callerTrace, SERVER, spansOfTrace, traced } from "../tracing-support.ts";

describe("tracing", () => {
  it("continues the caller's trace: server span under the caller's, client span under the server span, origin under the attempt", async () => {
    const { key } = await createApiKey(env.CONFIG, { consumer: "tracer" });
    await applyConfig(traced(simpleConfig({ id: "traced", rewrite: { path: "/echo" }, auth: { apiKey: {} }, coalesce: {} })));
    const { traceId, callerSpanId, traceparent } = callerTrace();
    const response = await gateway("/anything?token=secret", { headers: { traceparent, "x-api-key": key, "x-request-id": "trace-req-1" } });
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as { headers: Record<string, string> };

    const spans = await spansOfTrace(traceId, 2);
    expect(spans).toHaveLength(2);
    const server = spans.find((s) => s.kind === SERVER);
    const client = spans.find((s) => s.kind === CLIENT);
    expect(server?.parentSpanId).toBe(callerSpanId);
    expect(client?.parentSpanId).toBe(server?.spanId);
    // The origin's spans nest under the attempt: its traceparent names the client span, sampled.
    expect(echoed.headers.traceparent).toBe(`00-${traceId}-${client?.spanId}-01`);

    expect(attributesOf(server as never)).toMatchObject({
      "http.request.method": "GET",
      "http.response.status_code": 200,
      "http.route": "traced",
      "url.path": "/anything",
      "edgegate.cluster": "origin",
      "edgegate.target": origin,
      "edgegate.consumer": "tracer",
      "edgegate.request_id": "trace-req-1",
      "edgegate.attempts": 1,
      "edgegate.decision.auth": "api-key",
      "edgegate.decision.coalesce": "leader",
    });
    expect(attributesOf(client as never)).toMatchObject({
      "http.request.method": "GET",
      "http.response.status_code": 200,
      "edgegate.cluster": "origin",
      "edgegate.target": origin,
      "edgegate.mirror": false,
      "http.request.resend_count": 0,
    });
    expect(server?.status.code).toBeUndefined();
    expect(server?.received).toMatchObject({ contentType: "application/json", serviceName: "edgegate" });
    // Neither the query (credentials) nor the API key reaches the collector.
    expect(JSON.stringify(spans)).not.toContain("secret");
    expect(JSON.stringify(spans)).not.toContain(key);
  });

  it("starts a trace when the caller sent none: the server span has no parent", async () => {
    await applyConfig(traced(simpleConfig({ rewrite: { path: "/echo" } })));
    const response = await gateway("/x");
    const { headers } = (await response.json()) as { headers: Record<string, string> };
    const traceId = headers.traceparent?.slice(3, 35) as string;
    const spans = await spansOfTrace(traceId, 2);
    expect(spans.find((s) => s.kind === SERVER)?.parentSpanId).toBeUndefined();
    expect(spans.find((s) => s.kind === CLIENT)?.spanId).toBe(headers.traceparent?.slice(36, 52));
  });

  it("gives each retry its own client span, and marks the failed attempts as errors", async () => {
    await applyConfig(traced(simpleConfig({ id: "retried", retry: { attempts: 1, on: ["5xx"] } })));
    const { traceId, traceparent } = callerTrace();
    const response = await gateway("/status/503", { headers: { traceparent } });
    expect(response.status).toBe(503);
    await response.text();
    const spans = await spansOfTrace(traceId, 3);
    const server = spans.find((s) => s.kind === SERVER);
    const clients = spans.filter((s) => s.kind === CLIENT);
    expect(clients).toHaveLength(2);
    expect(new Set(clients.map((s) => s.spanId)).size).toBe(2);
    for (const client of clients) {
      expect(client.parentSpanId).toBe(server?.spanId);
      expect(client.status.code).toBe(2);
      expect(attributesOf(client)["http.response.status_code"]).toBe(503);
    }
    expect(clients.map((s) => attributesOf(s)["http.request.resend_count"]).sort()).toEqual([0, 1]);
    expect(attributesOf(server as never)["edgegate.attempts"]).toBe(2);
    expect(server?.status.code).toBe(2);
  });

  it("gives a mirror copy its own client span under the server span", async () => {
    await applyConfig(
      traced({
        clusters: { primary: { targets: [{ url: origin }] }, shadow: { targets: [{ url: origin }] } },
        routes: [{ id: "mirrored", match: { path: "/*" }, cluster: "primary", mirror: { cluster: "shadow", percent: 100 } }],
      }),
    );
    const { traceId, traceparent } = callerTrace();
    const response = await gateway("/echo/m", { headers: { traceparent } });
    expect(response.status).toBe(200);
    await response.text();
    const spans = await spansOfTrace(traceId, 3);
    const server = spans.find((s) => s.kind === SERVER);
    const mirror = spans.find((s) => s.kind === CLIENT && attributesOf(s)["edgegate.mirror"] === true);
    const primary = spans.find((s) => s.kind === CLIENT && attributesOf(s)["edgegate.mirror"] === false);
    expect(mirror?.parentSpanId).toBe(server?.spanId);
    expect(primary?.parentSpanId).toBe(server?.spanId);
    expect(attributesOf(mirror as never)).toMatchObject({
      "edgegate.cluster": "shadow",
      "edgegate.target": origin,
      "http.response.status_code": 200,
    });
    expect(mirror?.spanId).not.toBe(primary?.spanId);
  });

  it("sends the configured headers from secret bindings with each export", async () => {
    await applyConfig(traced(simpleConfig(), { headers: { authorization: { secret: "ORIGIN_SHARED_SECRET" } } }));
    const { traceId, traceparent } = callerTrace();
    await (await gateway("/echo/auth", { headers: { traceparent } })).text();
    const spans = await spansOfTrace(traceId, 2);
    expect(spans.length).toBeGreaterThan(0);
    for (const span of spans) expect(span.received.authorization).toBe((env as unknown as Record<string, string>).ORIGIN_SHARED_SECRET);
  });
});
