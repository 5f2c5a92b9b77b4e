import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { API_KEY_PREFIX, createApiKey, revokeApiKey } from "../../src/services/api-keys/store.ts";
import { authConfig, echoedHeaders, newSigner, publishKeys } from "../auth-support.ts";
import { applyConfig, gateway, originHits, simpleConfig } from "../support.ts";

const withKey = (key: string, headers: Record<string, string> = {}) => ({ headers: { "x-api-key": key, ...headers } });

describe("API keys", () => {
  it("accepts a stored key, forwards the consumer, and keeps the key from the upstream", async () => {
    const { key, record } = await createApiKey(env.CONFIG, { consumer: "acme", scopes: ["orders:read"], rateLimitKey: "plan-gold" });
    expect(await env.CONFIG.get(API_KEY_PREFIX + record.hash)).not.toContain(key); // only the hash is stored
    await applyConfig(
      simpleConfig({ rewrite: { path: "/echo" }, auth: { apiKey: {}, scopes: ["orders:read"], claimHeaders: { sub: "x-consumer" } } }),
    );
    const response = await gateway("/x", withKey(key, { "x-consumer": "forged" }));
    expect(response.status).toBe(200);
    const headers = await echoedHeaders(response);
    expect(headers["x-consumer"]).toBe("acme");
    expect(headers["x-api-key"]).toBeUndefined();
  });

  it("refuses an unknown, malformed or expired key with 401 and an ApiKey challenge, without calling the origin", async () => {
    const { key: expired } = await createApiKey(env.CONFIG, { consumer: "old", expiresAt: "2020-01-01T00:00:00Z" });
    await applyConfig(simpleConfig({ auth: { apiKey: {} } }));
    for (const key of ["egk_not-a-real-key-at-all", "short", "x".repeat(5_000), expired]) {
      const hit = crypto.randomUUID();
      const response = await gateway(`/count?key=${hit}`, withKey(key));
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('ApiKey realm="edgegate", header="x-api-key"');
      expect(await response.text()).not.toContain(key.slice(0, 12));
      expect(await originHits(hit)).toBe(0);
    }
    const none = await gateway("/count");
    expect(none.status).toBe(401);
  });

  it("answers 403 when the key lacks a required scope", async () => {
    const { key } = await createApiKey(env.CONFIG, { consumer: "reader", scopes: ["orders:read"] });
    await applyConfig(simpleConfig({ auth: { apiKey: {}, scopes: ["orders:write"] } }));
    expect((await gateway("/x", withKey(key))).status).toBe(403);
  });

  it("stops accepting a revoked key once the route's cache TTL has passed", async () => {
    const { key } = await createApiKey(env.CONFIG, { consumer: "leaver" });
    await applyConfig(simpleConfig({ auth: { apiKey: { cacheTtlSec: 1 } } }));
    expect((await gateway("/x", withKey(key))).status).toBe(200);
    await revokeApiKey(env.CONFIG, key);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await gateway("/x", withKey(key))).status).toBe(401);
  });

  it("takes either credential on a route with both methods", async () => {
    const set = `both-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    const { key } = await createApiKey(env.CONFIG, { consumer: "svc" });
    await applyConfig(authConfig(set, { apiKey: {}, claimHeaders: { sub: "x-subject" } }));
    const byKey = await gateway("/secure/x", withKey(key));
    expect((await echoedHeaders(byKey))["x-subject"]).toBe("svc");
    const byToken = await gateway("/secure/x", { headers: { authorization: `Bearer ${await signer.sign({ sub: "u-9" })}` } });
    expect((await echoedHeaders(byToken))["x-subject"]).toBe("u-9");
    const neither = await gateway("/secure/x");
    expect(neither.headers.get("www-authenticate")).toBe('Bearer realm="edgegate", ApiKey realm="edgegate", header="x-api-key"');
  });
});
