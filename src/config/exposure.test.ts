import { describe, expect, it } from "vitest";
import { covers, exposureWarnings, formatPattern, intersect, parsePattern } from "./exposure.ts";
import { type GatewayConfig, type GatewayConfigInput, parseConfig } from "./schema.ts";

type RouteInput = GatewayConfigInput["routes"][number];

const JWT = { jwt: "idp" } as const;

function config(routes: RouteInput[], clusters: GatewayConfigInput["clusters"] = {}): GatewayConfig {
  const parsed = parseConfig(
    {
      clusters: { app: { targets: [{ url: "https://app.example.com" }] }, ...clusters },
      routes,
      jwtProviders: { idp: { issuer: "https://idp.example.com/", audience: "app", jwksUri: "https://idp.example.com/jwks" } },
    },
    { allowPrivateUpstreams: false },
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.config;
}

const orders: RouteInput = { id: "orders", match: { path: "/orders/*" }, cluster: "app", auth: JWT };

function warnings(routes: RouteInput[], clusters: GatewayConfigInput["clusters"] = {}) {
  return exposureWarnings(config(routes, clusters));
}

describe("path patterns", () => {
  const p = parsePattern;
  it("intersects literals, parameters and wildcards as the router matches them", () => {
    expect(formatPattern(intersect(p("/*"), p("/orders/:id")) as never)).toBe("/orders/:param");
    expect(formatPattern(intersect(p("/:a/*"), p("/orders/*")) as never)).toBe("/orders/*");
    expect(formatPattern(intersect(p("/orders/*"), p("/orders")) as never)).toBe("/orders");
    expect(intersect(p("/orders/:id"), p("/orders"))).toBeNull();
    expect(intersect(p("/users/*"), p("/orders/*"))).toBeNull();
    expect(intersect(p("/a/:b"), p("/a/"))).toBeNull();
    expect(intersect(p("/a/:b/c"), p("/a/x/d"))).toBeNull();
  });

  it("knows when one pattern takes every path of another", () => {
    expect(covers(p("/orders/*"), p("/orders/:id/items"))).toBe(true);
    expect(covers(p("/orders/*"), p("/orders"))).toBe(true);
    expect(covers(p("/orders/:id"), p("/orders/*"))).toBe(false);
    expect(covers(p("/:a/*"), p("/orders/*"))).toBe(true);
    expect(covers(p("/orders/:id"), p("/orders/42"))).toBe(true);
    expect(covers(p("/orders/42"), p("/orders/:id"))).toBe(false);
  });
});

describe("exposureWarnings", () => {
  it("warns of the shipped example's defect: an open /api/* that strips /api onto the cluster of a protected /orders/*", () => {
    const found = warnings([{ id: "api", match: { path: "/api/*" }, cluster: "app", rewrite: { stripPrefix: "/api" } }, orders]);
    expect(found).toEqual([
      {
        path: "routes[0].rewrite",
        message:
          "has no auth, but /api/orders/* reaches /orders/* on https://app.example.com (cluster 'app'), which routes[1] ('orders') protects with auth",
      },
    ]);
  });

  it("reaches exact paths and :param routes through a rewrite", () => {
    const exact = { id: "order", match: { path: "/orders/:id" }, cluster: "app", auth: JWT };
    expect(
      warnings([{ id: "one", match: { path: "/api/orders/:id" }, cluster: "app", rewrite: { stripPrefix: "/api" } }, exact]),
    ).toHaveLength(1);
    // A wildcard matches its own base: /api/orders is forwarded as /orders, which /orders/* protects.
    expect(
      warnings([{ id: "list", match: { path: "/api/orders" }, cluster: "app", rewrite: { stripPrefix: "/api" } }, orders]),
    ).toHaveLength(1);
    expect(warnings([{ id: "list", match: { path: "/api/orders" }, cluster: "app", rewrite: { stripPrefix: "/api" } }, exact])).toEqual([]);
    const template = { id: "t", match: { path: "/:tenant/*" }, cluster: "app", rewrite: { path: "/*" } };
    expect(warnings([orders, template])[0]?.message).toContain("/:param/* reaches /orders/*");
    const named = { id: "n", match: { path: "/v2/:id" }, cluster: "app", rewrite: { path: "/orders/:id" } };
    expect(warnings([orders, named])[0]?.message).toContain("/v2/:param reaches /orders/:param");
  });

  it("follows the protected route's rewrite too", () => {
    const secure = {
      id: "secure",
      match: { path: "/secure/*" },
      cluster: "app",
      auth: JWT,
      rewrite: { stripPrefix: "/secure", prefix: "/orders" },
    };
    expect(warnings([secure, { id: "open", match: { path: "/orders/*" }, cluster: "app" }])[0]?.message).toContain(
      "/orders/* reaches /orders/*",
    );
  });

  it("says nothing when the paths, the methods or the origins do not meet", () => {
    const api = { id: "api", match: { path: "/api/*" }, cluster: "app", rewrite: { stripPrefix: "/api", prefix: "/public" } };
    expect(warnings([api, orders])).toEqual([]);
    expect(warnings([{ id: "users", match: { path: "/users/*" }, cluster: "app" }, orders])).toEqual([]);
    const posts = { id: "w", match: { path: "/api/*", methods: ["POST" as const] }, cluster: "app", rewrite: { stripPrefix: "/api" } };
    expect(warnings([posts, { ...orders, match: { path: "/orders/*", methods: ["GET" as const] } }])).toEqual([]);
    const elsewhere = { id: "api", match: { path: "/api/*" }, cluster: "other", rewrite: { stripPrefix: "/api" } };
    expect(warnings([elsewhere, orders], { other: { targets: [{ url: "https://other.example.com" }] } })).toEqual([]);
  });

  it("names the methods the routes share when they are not all of them", () => {
    const reads = { id: "r", match: { path: "/api/*", methods: ["GET" as const] }, cluster: "app", rewrite: { stripPrefix: "/api" } };
    expect(warnings([reads, orders])[0]?.message).toContain("/api/orders/* (GET, HEAD) reaches");
  });

  it("does not warn of an open catch-all that an earlier protected route shadows, but does when it comes first or covers less", () => {
    const all = { id: "all", match: { path: "/*" }, cluster: "app" };
    expect(warnings([orders, all])).toEqual([]);
    expect(warnings([all, orders])).toEqual([
      { path: "routes[0].match.path", message: expect.stringContaining("/orders/* reaches /orders/*") },
    ]);
    // The protected route takes only GET: every other method falls through to the catch-all.
    const getOnly = { ...orders, match: { path: "/orders/*", methods: ["GET" as const] } };
    expect(warnings([getOnly, all])).toEqual([]);
    const allMethods = warnings([{ ...orders, match: { path: "/orders/*", methods: ["GET" as const, "POST" as const] } }, all]);
    expect(allMethods).toEqual([]);
    // An earlier protected route that takes exactly the paths reached shadows the open one for them.
    const onlyItems = { ...orders, id: "items", match: { path: "/orders/:id/items" } };
    expect(warnings([onlyItems, { id: "o", match: { path: "/orders/*" }, cluster: "app" }])).toEqual([]);
    // One that takes fewer does not.
    const open = { id: "o", match: { path: "/api/orders/*" }, cluster: "app", rewrite: { stripPrefix: "/api" } };
    expect(warnings([{ ...orders, id: "one", match: { path: "/api/orders/:id" } }, open, orders])).toHaveLength(1);
  });

  it("counts hosts only for which route answers first: the upstream sees the target's host either way", () => {
    const open = { id: "api", match: { path: "/api/*", hosts: ["public.example.com"] }, cluster: "app", rewrite: { stripPrefix: "/api" } };
    const scoped = { ...orders, match: { path: "/orders/*", hosts: ["internal.example.com"] } };
    expect(warnings([open, scoped])).toHaveLength(1);
    const all = { id: "all", match: { path: "/*" }, cluster: "app" };
    // A protected route scoped to one host does not shadow an any-host catch-all on other hosts.
    expect(warnings([scoped, all])).toHaveLength(1);
    // An any-host protected route does shadow a host-scoped catch-all after it.
    expect(warnings([orders, { ...all, match: { path: "/*", hosts: ["public.example.com"] } }])).toEqual([]);
    expect(warnings([scoped, { ...all, match: { path: "/*", hosts: ["internal.example.com"] } }])).toEqual([]);
  });

  it("compares full upstream paths, base paths included, across clusters that share an origin", () => {
    const clusters = {
      pub: { targets: [{ url: "https://app.example.com/v1" }] },
      priv: { targets: [{ url: "https://app.example.com/private" }] },
    };
    const open = { id: "pub", match: { path: "/pub/*" }, cluster: "pub", rewrite: { stripPrefix: "/pub" } };
    const admin = { id: "admin", match: { path: "/v1/admin/*" }, cluster: "app", auth: JWT };
    expect(warnings([open, admin], clusters)[0]?.message).toContain(
      "/pub/admin/* reaches /v1/admin/* on https://app.example.com (cluster 'pub'), which routes[1] ('admin')",
    );
    const priv = { id: "priv", match: { path: "/priv/*" }, cluster: "priv", auth: JWT };
    expect(warnings([open, priv], clusters)).toEqual([]);
    const up = { id: "up", match: { path: "/x/*" }, cluster: "app", rewrite: { prefix: "/private/priv" } };
    expect(warnings([up, priv], clusters)[0]?.message).toContain("/x/* reaches /private/priv/x/*");
  });

  it("follows split shares and mirrors of the open route to the protected cluster", () => {
    const clusters = { canary: { targets: [{ url: "https://canary.example.com" }] } };
    const protectedCanary = { ...orders, cluster: "canary" };
    const split = {
      id: "s",
      match: { path: "/api/*" },
      cluster: "app",
      rewrite: { stripPrefix: "/api" },
      split: { to: [{ cluster: "canary", percent: 5 }] },
    };
    expect(warnings([split, protectedCanary], clusters)[0]?.message).toContain("(cluster 'canary')");
    const mirror = { id: "m", match: { path: "/api/*" }, cluster: "app", rewrite: { stripPrefix: "/api" }, mirror: { cluster: "canary" } };
    expect(warnings([mirror, protectedCanary], clusters)).toHaveLength(1);
  });

  it("reports each pair once, and stays fast on thousands of routes", () => {
    const many: RouteInput[] = [];
    for (let i = 0; i < 3000; i++) many.push({ id: `p${i}`, match: { path: `/p${i}/*` }, cluster: "app", auth: JWT });
    for (let i = 0; i < 3000; i++)
      many.push({ id: `o${i}`, match: { path: `/o${i}/*` }, cluster: "app", rewrite: { stripPrefix: `/o${i}`, prefix: `/q${i}` } });
    many.push({ id: "api", match: { path: "/api/*" }, cluster: "app", rewrite: { stripPrefix: "/api" } });
    const parsed = config(many);
    const started = performance.now();
    const found = exposureWarnings(parsed);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(found).toHaveLength(3000);
    expect(found.every((w) => w.path === "routes[6000].rewrite")).toBe(true);
  });
});
