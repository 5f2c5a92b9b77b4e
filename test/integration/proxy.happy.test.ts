import { describe, expect, it } from "vitest";
import { applyConfig, gateway, origin, simpleConfig } from "../support.ts";

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
  sha256: string;
}

describe("proxy: happy paths", () => {
  it("forwards method, normalized path and raw query, and streams the answer back", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo//a/./b/%7Ec?q=%2F&x=1", { method: "PATCH", body: "hello" });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.method).toBe("PATCH");
    expect(echo.url).toBe("/echo/a/b/~c?q=%2F&x=1");
    expect(echo.bodyBytes).toBe(5);
  });

  it("routes by path params and rewrites to the upstream path", async () => {
    await applyConfig({
      clusters: { o: { targets: [{ url: `${origin}/echo/base` }] } },
      routes: [
        { id: "user", match: { path: "/users/:id", methods: ["GET"] }, cluster: "o", rewrite: { path: "/people/:id" } },
        { id: "api", match: { path: "/api/*" }, cluster: "o", rewrite: { stripPrefix: "/api", prefix: "/v2" } },
      ],
    });
    expect(((await (await gateway("/users/42?full=1")).json()) as Echo).url).toBe("/echo/base/people/42?full=1");
    expect(((await (await gateway("/api/orders/9")).json()) as Echo).url).toBe("/echo/base/v2/orders/9");
    expect(((await (await gateway("/api")).json()) as Echo).url).toBe("/echo/base/v2");
  });

  it("matches hosts: an exact host beats a wildcard, which beats any host", async () => {
    await applyConfig({
      clusters: { o: { targets: [{ url: origin }] } },
      routes: [
        { id: "exact", match: { path: "/*", hosts: ["api.example.com"] }, cluster: "o", rewrite: { prefix: "/echo/exact" } },
        { id: "wild", match: { path: "/*", hosts: ["*.example.com"] }, cluster: "o", rewrite: { prefix: "/echo/wild" } },
        { id: "any", match: { path: "/*" }, cluster: "o", rewrite: { prefix: "/echo/any" } },
      ],
    });
    const path = async (host: string) => ((await (await gateway("/x", { host })).json()) as Echo).url;
    expect(await path("api.example.com")).toBe("/echo/exact/x");
    expect(await path("API.Example.com:8443")).toBe("/echo/exact/x");
    expect(await path("shop.example.com")).toBe("/echo/wild/x");
    expect(await path("other.test")).toBe("/echo/any/x");
  });

  it("sets X-Request-Id, returns it, and propagates the caller's trace", async () => {
    await applyConfig(simpleConfig());
    const generated = await gateway("/echo");
    const id = generated.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await generated.json()) as Echo).headers["x-request-id"]).toBe(id);

    const traced = await gateway("/echo", {
      headers: { "x-request-id": "client-id-1", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "v=1" },
    });
    expect(traced.headers.get("x-request-id")).toBe("client-id-1");
    const seen = ((await traced.json()) as Echo).headers;
    expect(seen["x-request-id"]).toBe("client-id-1");
    expect(seen.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
    expect(seen.tracestate).toBe("v=1");

    const fresh = ((await (await gateway("/echo")).json()) as Echo).headers;
    expect(fresh.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("passes upstream redirects and errors through untouched", async () => {
    await applyConfig(simpleConfig());
    const redirect = await gateway("/redirect");
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("http://elsewhere.test/target");
    const upstream500 = await gateway("/status/500");
    expect(upstream500.status).toBe(500);
    expect(upstream500.headers.get("content-type")).toBe("application/json");
    expect(await upstream500.json()).toEqual({ status: 500 });
  });

  it("forwards only allowlisted headers when the route compacts them", async () => {
    await applyConfig(simpleConfig({ requestHeaders: { allow: ["accept", "x-tenant"] } }));
    const res = await gateway("/echo", {
      method: "POST",
      body: "{}",
      headers: { accept: "application/json", "x-tenant": "t1", cookie: "s=1", "x-debug": "1", "content-type": "application/json" },
    });
    const seen = ((await res.json()) as Echo).headers;
    expect(seen.accept).toBe("application/json");
    expect(seen["x-tenant"]).toBe("t1");
    expect(seen["content-type"]).toBe("application/json");
    expect(seen.cookie).toBeUndefined();
    expect(seen["x-debug"]).toBeUndefined();
    expect(seen["x-forwarded-for"]).toBe("203.0.113.7");
  });

  it("spreads load over targets by weight", async () => {
    await applyConfig({
      clusters: {
        o: {
          targets: [
            { url: `${origin}/echo/a`, weight: 3 },
            { url: `${origin}/echo/b`, weight: 1 },
          ],
        },
      },
      routes: [{ id: "r", match: { path: "/*" }, cluster: "o" }],
    });
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) seen.push(((await (await gateway("/")).json()) as Echo).url);
    expect(seen.filter((u) => u === "/echo/a/")).toHaveLength(6);
    expect(seen.filter((u) => u === "/echo/b/")).toHaveLength(2);
  });
});
