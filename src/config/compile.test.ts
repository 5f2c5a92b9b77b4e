import { describe, expect, it } from "vitest";
import { compileConfig } from "./compile.ts";
import { type GatewayConfigInput, parseConfig } from "./schema.ts";

function compile(input: GatewayConfigInput) {
  const parsed = parseConfig(input, { allowPrivateUpstreams: false });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileConfig(parsed.config, "v1");
}

function upstreamPathFor(route: GatewayConfigInput["routes"][number], path: string) {
  const snapshot = compile({ clusters: { c: { targets: [{ url: "https://c.example.com/base/" }] } }, routes: [route] });
  const lookup = snapshot.table.lookup("h", "GET", path);
  if (lookup.kind !== "matched") throw new Error(`no match for ${path}`);
  return { upstream: lookup.payload.upstreamPath(path, lookup.params), target: lookup.payload.cluster.targets[0] };
}

describe("compileConfig", () => {
  it("keeps the target's base path apart from the request path", () => {
    const { target } = upstreamPathFor({ id: "r", match: { path: "/x" }, cluster: "c" }, "/x");
    expect(target).toEqual({ origin: "https://c.example.com", basePath: "/base", key: "https://c.example.com/base" });
  });

  it.each([
    [{ stripPrefix: "/api" }, "/api/*", "/api/users/1", "/users/1"],
    [{ stripPrefix: "/api" }, "/api/*", "/api", "/"],
    [{ stripPrefix: "/api/" }, "/api/*", "/api/x", "/x"],
    [{ stripPrefix: "/api", prefix: "/v2" }, "/api/*", "/api/users", "/v2/users"],
    [{ prefix: "/internal" }, "/users/:id", "/users/7", "/internal/users/7"],
    [{ path: "/people/:id/profile" }, "/users/:id", "/users/7", "/people/7/profile"],
    [{ path: "/files/*" }, "/static/*", "/static/css/app.css", "/files/css/app.css"],
    [{ path: "/files/*" }, "/static/*", "/static", "/files/"],
  ])("rewrite %j on %s maps %s to %s", (rewrite, pattern, path, expected) => {
    expect(upstreamPathFor({ id: "r", match: { path: pattern }, cluster: "c", rewrite }, path).upstream).toBe(expected);
  });

  it("forwards the path unchanged without a rewrite", () => {
    expect(upstreamPathFor({ id: "r", match: { path: "/*" }, cluster: "c" }, "/a/b%20c").upstream).toBe("/a/b%20c");
  });

  it("gives routes of one cluster the same balancer, and retries only when attempts > 0", () => {
    const snapshot = compile({
      clusters: {
        c: { targets: [{ url: "https://a.example.com" }, { url: "https://b.example.com", weight: 3 }], loadBalancing: "least-in-flight" },
      },
      routes: [
        { id: "a", match: { path: "/a" }, cluster: "c", retry: { attempts: 0 } },
        {
          id: "b",
          match: { path: "/b" },
          cluster: "c",
          retry: { attempts: 2, on: ["5xx"] },
          requestHeaders: { allow: ["Accept"] },
          maxBodyBytes: 10,
        },
      ],
    });
    const a = snapshot.table.lookup("h", "GET", "/a");
    const b = snapshot.table.lookup("h", "GET", "/b");
    if (a.kind !== "matched" || b.kind !== "matched") throw new Error("routes did not match");
    expect(a.payload.cluster).toBe(b.payload.cluster);
    expect(a.payload.retry).toBeNull();
    expect(b.payload.retry?.attempts).toBe(2);
    expect(b.payload.allowHeaders).toEqual(new Set(["accept"]));
    expect(b.payload.maxBodyBytes).toBe(10);
    expect(snapshot.routeCount).toBe(2);
  });
});
