import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONFIG_POINTER_KEY } from "../../src/config/store.ts";
import { applyConfig, gateway, simpleConfig } from "../support.ts";

// This file runs in its own isolate, so the first request here meets a cold config cache.
describe("health and a missing config", () => {
  it("answers 503 problem+json while no config exists, without crashing", async () => {
    await env.CONFIG.delete(CONFIG_POINTER_KEY);
    const res = await gateway("/anything");
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toMatchObject({ type: "urn:edgegate:problem:config-unavailable", status: 503 });
    const health = await gateway("/__gateway/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", config: { state: "missing", version: null, routes: 0, compiledAt: null } });
  });

  it("reports the config version this isolate serves", async () => {
    const version = await applyConfig(simpleConfig());
    const res = await gateway("/__gateway/health");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toMatchObject({ status: "ok", config: { state: "loaded", version, routes: 1 } });
  });
});
