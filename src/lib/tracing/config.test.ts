import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/schema.ts";

const base = {
  clusters: { api: { targets: [{ url: "https://api.example.com" }] } },
  routes: [{ id: "r", match: { path: "/*" }, cluster: "api" }],
};
const deployment = { bindings: new Set(["OTLP_TOKEN"]), fetchers: new Set<string>(), customPolicies: new Map() };
const withTracing = (tracing: unknown) => ({ ...base, observability: { tracing } });

function issuesOf(tracing: unknown, allowPrivateUpstreams = false): string[] {
  const result = parseConfig(withTracing(tracing), { allowPrivateUpstreams, deployment });
  return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
}

describe("tracing config", () => {
  it("takes an endpoint and fills in the documented defaults", () => {
    const result = parseConfig(withTracing({ endpoint: "https://otel.example.com/v1/traces" }), {
      allowPrivateUpstreams: false,
      deployment,
    });
    expect(result.ok).toBe(true);
    if (result.ok)
      expect(result.config.observability.tracing).toEqual({
        endpoint: "https://otel.example.com/v1/traces",
        sampleRate: 0.01,
        batchSize: 64,
        batchIntervalMs: 5_000,
      });
  });

  it("holds the endpoint to the outbound address rule", () => {
    for (const endpoint of [
      "http://127.0.0.1:4318/v1/traces",
      "http://10.0.0.5/v1/traces",
      "ftp://otel.example.com",
      "https://u:p@otel.example.com/",
      "not a url",
    ]) {
      expect(issuesOf({ endpoint }).join()).toMatch(/observability\.tracing\.endpoint/);
    }
    expect(issuesOf({ endpoint: "http://127.0.0.1:4318/v1/traces" }, true)).toEqual([]);
  });

  it("takes auth headers only from secret bindings the deployment has, never the gateway's own", () => {
    expect(issuesOf({ endpoint: "https://o.example.com/v1/traces", headers: { Authorization: { secret: "OTLP_TOKEN" } } })).toEqual([]);
    for (const headers of [
      { authorization: "Bearer literal" },
      { authorization: { secret: "MISSING" } },
      { authorization: { secret: "ADMIN_TOKEN" } },
      { "bad header": { secret: "OTLP_TOKEN" } },
    ]) {
      expect(issuesOf({ endpoint: "https://o.example.com/v1/traces", headers }).join()).toMatch(/observability\.tracing\.headers/);
    }
  });

  it("refuses shares, batch sizes and intervals out of range", () => {
    for (const bad of [{ sampleRate: -0.1 }, { sampleRate: 1.5 }, { batchSize: 0 }, { batchSize: 1.5 }, { batchIntervalMs: 50 }]) {
      expect(issuesOf({ endpoint: "https://o.example.com/v1/traces", ...bad }).length).toBeGreaterThan(0);
    }
  });
});
