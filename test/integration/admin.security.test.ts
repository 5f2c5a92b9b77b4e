/**
 * The admin surface answers nobody without the token: every endpoint, every method, wrong tokens
 * and near misses; and it does not exist at all on a deployment without ADMIN_TOKEN.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { GatewayError, problemResponse } from "../../src/errors.ts";
import { adminAuth } from "../../src/routes/admin/auth.ts";
import type { AppEnv } from "../../src/variables.ts";
import { ADMIN_TOKEN, admin, currentVersion, taggedConfig } from "../admin-support.ts";

const ENDPOINTS: Array<[string, string]> = [
  ["GET", "/"],
  ["GET", "/metrics"],
  ["GET", "/clusters/origin"],
  ["GET", "/config"],
  ["PUT", "/config"],
  ["POST", "/config/validate"],
  ["GET", "/config/versions"],
  ["GET", "/config/versions/x"],
  ["POST", "/config/rollback"],
  ["GET", "/config/routes/x"],
  ["PUT", "/config/routes/x"],
  ["DELETE", "/config/routes/x"],
  ["GET", "/config/clusters/x"],
  ["PUT", "/config/clusters/x"],
  ["DELETE", "/config/clusters/x"],
];

describe("admin API: security", () => {
  it.each(ENDPOINTS)("%s %s answers 401 problem+json without a token or with a wrong one, and changes nothing", async (method, path) => {
    const before = await currentVersion();
    const body = method === "GET" || method === "DELETE" ? undefined : taggedConfig("intruder");
    for (const authorization of [
      undefined,
      "Bearer wrong",
      `Bearer ${ADMIN_TOKEN}x`,
      `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
      ADMIN_TOKEN,
      `Basic ${btoa(`admin:wrong`)}`,
    ]) {
      const response = await admin(method, path, {
        token: null,
        ...(body !== undefined ? { body } : {}),
        headers: { ...(authorization ? { authorization } : {}), "if-match": "*" },
      });
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(response.headers.get("www-authenticate")).toContain('Bearer realm="edgegate-admin"');
      await response.text();
    }
    expect(await currentVersion()).toBe(before);
  });

  it("takes the token as a Basic password too, for browsers", async () => {
    const response = await admin("GET", "/config/versions", {
      token: null,
      headers: { authorization: `Basic ${btoa(`anyone:${ADMIN_TOKEN}`)}` },
    });
    expect(response.status).toBe(200);
    await response.text();
  });

  it("does not exist on a deployment without ADMIN_TOKEN: 404, as for any unknown path", async () => {
    const app = new Hono<AppEnv>();
    app.use("*", async (c, next) => {
      c.set("requestId", "test");
      await next();
    });
    app.use("/__gateway/admin/*", adminAuth);
    app.get("/__gateway/admin/config", (c) => c.text("reached"));
    app.onError((error, c) => (error instanceof GatewayError ? problemResponse(error.code, c.get("requestId")) : c.text("bug", 500)));
    const response = await app.request("/__gateway/admin/config", { headers: { authorization: "Bearer anything" } }, {});
    expect(response.status).toBe(404);
    expect(((await response.json()) as { type: string }).type).toBe("urn:edgegate:problem:route-not-found");
  });
});
