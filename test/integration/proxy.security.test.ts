import { describe, expect, it } from "vitest";
import { applyConfig, gateway, origin, originHits, simpleConfig } from "../support.ts";

interface Echo {
  headers: Record<string, string>;
  rawHeaders: string[];
}

describe("proxy: security", () => {
  it("replaces spoofed X-Forwarded-*, X-Real-IP and Forwarded with the gateway's own values", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo", {
      clientIp: "198.51.100.23",
      headers: {
        "x-forwarded-for": "10.0.0.1, 127.0.0.1",
        "x-forwarded-host": "admin.internal",
        "x-forwarded-proto": "https",
        "x-forwarded-prefix": "/admin",
        "x-real-ip": "127.0.0.1",
        forwarded: "for=127.0.0.1;by=trusted",
      },
    });
    const seen = ((await res.json()) as Echo).headers;
    expect(seen["x-forwarded-for"]).toBe("198.51.100.23");
    expect(seen["x-real-ip"]).toBe("198.51.100.23");
    expect(seen["x-forwarded-host"]).toBe("gateway.test");
    expect(seen["x-forwarded-proto"]).toBe("http");
    expect(seen["x-forwarded-prefix"]).toBeUndefined();
    expect(seen.forwarded).toBe("for=198.51.100.23;host=gateway.test;proto=http");
  });

  it("drops hop-by-hop request headers, and the ones Connection names, before the upstream", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo", {
      headers: {
        connection: "x-internal-token",
        "x-internal-token": "secret",
        "keep-alive": "timeout=999",
        te: "trailers",
        trailer: "x-checksum",
        upgrade: "h2c",
        "proxy-authorization": "Basic dXNlcjpwYXNz",
        "proxy-connection": "keep-alive",
      },
    });
    const seen = ((await res.json()) as Echo).headers;
    for (const name of ["x-internal-token", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection"]) {
      expect(seen[name], name).toBeUndefined();
    }
  });

  it("drops hop-by-hop response headers, and the ones Connection names, before the client", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo");
    expect(res.status).toBe(200);
    // The origin answers with Connection: keep-alive, x-origin-private; Keep-Alive; Proxy-Authenticate.
    expect(res.headers.get("x-origin-private")).toBeNull();
    expect(res.headers.get("keep-alive")).toBeNull();
    expect(res.headers.get("proxy-authenticate")).toBeNull();
    expect(res.headers.get("connection")).toBeNull();
  });

  it.each([
    "/echo/a%2F..%2F..%2Fadmin",
    "/echo/%5C..%5Cadmin",
    "/echo/%00",
    // A servlet container strips the parameters, then resolves the dot segment.
    "/echo/..;/admin",
    "/echo/%2e%2e;x/admin",
    "/echo/.;/admin",
  ])("refuses %s without calling the origin", async (path) => {
    await applyConfig(simpleConfig());
    const key = crypto.randomUUID();
    const res = await gateway(`${path}?key=${key}`);
    expect(res.status).toBe(400);
    expect(await originHits(key)).toBe(0);
  });

  it("forwards dot segments resolved, so a prefix route cannot be escaped", async () => {
    await applyConfig({
      clusters: { o: { targets: [{ url: origin }] } },
      routes: [{ id: "public", match: { path: "/public/*" }, cluster: "o", rewrite: { path: "/echo/public/*" } }],
    });
    // %2e%2e decodes to "..": normalization resolves it before matching, so it lands outside /public.
    expect((await gateway("/public/%2e%2e/admin")).status).toBe(404);
    const inside = await gateway("/public/a/%2E/b/../c");
    expect(((await inside.json()) as { url: string }).url).toBe("/echo/public/a/c");
  });

  it("refuses TRACE and CONNECT-like methods without calling the origin", async () => {
    await applyConfig(simpleConfig());
    const key = crypto.randomUUID();
    expect((await gateway(`/count?key=${key}`, { method: "TRACE" })).status).toBe(405);
    expect(await originHits(key)).toBe(0);
  });

  it("does not let a route reach the gateway's reserved /__gateway/ paths", async () => {
    await applyConfig(simpleConfig());
    const key = crypto.randomUUID();
    expect((await gateway(`/__gateway/anything?key=${key}`)).status).toBe(404);
    // The admin surface answers for itself (here: no token, 401), never the upstream.
    expect((await gateway(`/__gateway/admin?key=${key}`)).status).toBe(401);
    expect(await originHits(key)).toBe(0);
  });
});
