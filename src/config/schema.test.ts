import { describe, expect, it } from "vitest";
import { type ConfigIssue, parseConfig } from "./schema.ts";

const strict = { allowPrivateUpstreams: false };
const dev = { allowPrivateUpstreams: true };

const valid = {
  clusters: { users: { targets: [{ url: "https://users.internal.example.com" }] } },
  routes: [{ id: "users", match: { path: "/users/:id" }, cluster: "users" }],
};

function issuesOf(input: unknown, options = strict): ConfigIssue[] {
  const result = parseConfig(input, options);
  if (result.ok) throw new Error("expected the config to be refused");
  return result.issues;
}

describe("parseConfig", () => {
  it("accepts a minimal config and fills in the defaults", () => {
    const result = parseConfig(valid, strict);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.clusters.users).toEqual({
      targets: [{ url: "https://users.internal.example.com", weight: 1 }],
      loadBalancing: "weighted-round-robin",
      connectTimeoutMs: 5_000,
    });
    expect(result.config.routes[0]?.timeoutMs).toBe(15_000);
  });

  it("fills in retry defaults when a retry block is present", () => {
    const result = parseConfig({ ...valid, routes: [{ ...valid.routes[0], retry: {} }] }, strict);
    expect(result.ok && result.config.routes[0]?.retry).toEqual({
      attempts: 1,
      on: ["connect-failure", "gateway-error"],
      budget: { ratio: 0.2, minPerSecond: 3 },
      backoffMs: { base: 25, max: 250 },
    });
  });

  it("names the exact field path and reason of every problem", () => {
    const issues = issuesOf({
      clusters: { users: { targets: [{ url: "ftp://x.example.com", weight: 0 }], loadBalancing: "random" } },
      routes: [{ id: "bad id!", match: { path: "/a/*/b", methods: ["TRACE"] }, cluster: "users", timeoutMs: -1, retry: { attempts: 9 } }],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: "clusters.users.targets[0].url", message: "must use http or https" },
        { path: "clusters.users.targets[0].weight", message: "must be >= 1" },
        { path: "clusters.users.loadBalancing", message: "must be one of: weighted-round-robin, least-in-flight" },
        { path: "routes[0].id", message: expect.stringContaining("must be 1-64 letters") },
        { path: "routes[0].match.path", message: "'*' is only allowed as a trailing '/*' wildcard" },
        { path: "routes[0].match.methods[0]", message: expect.stringContaining("must be one of: GET") },
        { path: "routes[0].timeoutMs", message: "must be >= 1" },
        { path: "routes[0].retry.attempts", message: "must be <= 5" },
      ]),
    );
  });

  it("refuses unknown fields, so a typo is not silently ignored", () => {
    const issues = issuesOf({ ...valid, routes: [{ ...valid.routes[0], timeout: 5 }] });
    expect(issues.map((i) => i.path)).toContain("routes[0].timeout");
  });

  it("refuses a route naming an undefined cluster, and duplicate ids", () => {
    const route = valid.routes[0];
    const issues = issuesOf({ ...valid, routes: [route, { ...route, cluster: "nope" }] });
    expect(issues).toEqual([
      { path: "routes[1].id", message: "duplicates the id of routes[0]" },
      { path: "routes[1].cluster", message: "names cluster 'nope', which is not defined in clusters" },
    ]);
  });

  it.each([
    "http://127.0.0.1:8080",
    "http://localhost",
    "http://10.0.0.5",
    "http://169.254.169.254/latest",
    "http://[::1]:9000",
    "http://0x7f.1",
  ])("refuses the non-public upstream %s unless the dev flag allows it", (url) => {
    const config = { ...valid, clusters: { users: { targets: [{ url }] } } };
    expect(issuesOf(config)[0]).toEqual({
      path: "clusters.users.targets[0].url",
      message: expect.stringContaining("loopback, link-local or private"),
    });
    expect(parseConfig(config, dev).ok).toBe(true);
  });

  it.each([
    ["https://user:pw@x.example.com", "must not contain credentials"],
    ["https://x.example.com/?a=1", "must not contain a query or fragment"],
    ["not a url", "must be an absolute URL"],
  ])("refuses the upstream URL %s", (url, message) => {
    expect(issuesOf({ ...valid, clusters: { users: { targets: [{ url }] } } })).toEqual([
      { path: "clusters.users.targets[0].url", message },
    ]);
  });

  it("checks rewrite rules against the route path", () => {
    const base = { ...valid.routes[0], match: { path: "/api/users/:id" } };
    expect(issuesOf({ ...valid, routes: [{ ...base, rewrite: { stripPrefix: "/other" } }] })[0]?.path).toBe(
      "routes[0].rewrite.stripPrefix",
    );
    expect(issuesOf({ ...valid, routes: [{ ...base, rewrite: { path: "/v2/:name" } }] })[0]?.message).toContain("':name'");
    expect(issuesOf({ ...valid, routes: [{ ...base, rewrite: { path: "/v2/*" } }] })[0]?.message).toContain("no wildcard");
    expect(issuesOf({ ...valid, routes: [{ ...base, rewrite: { path: "/v2", prefix: "/x" } }] })[0]?.message).toContain(
      "cannot be combined",
    );
    expect(parseConfig({ ...valid, routes: [{ ...base, rewrite: { stripPrefix: "/api", prefix: "/v2" } }] }, strict).ok).toBe(true);
  });

  it("refuses documents that are not configs at all", () => {
    expect(issuesOf(null)[0]).toEqual({ path: "(root)", message: "must be an object" });
    expect(issuesOf({ clusters: [], routes: {} }).map((i) => i.path)).toEqual(["clusters", "routes"]);
    expect(issuesOf({ ...valid, clusters: [] })[0]?.message).toContain("not an array");
  });
});

describe("parseConfig: authentication", () => {
  const provider = { issuer: "https://idp.example.com/", audience: "api", jwksUri: "https://idp.example.com/.well-known/jwks.json" };
  const withAuth = (auth: unknown, providers: unknown = { idp: provider }) => ({
    ...valid,
    jwtProviders: providers,
    routes: [{ ...valid.routes[0], auth }],
  });

  it("fills in provider and route defaults", () => {
    const result = parseConfig(withAuth({ jwt: "idp" }), strict);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.jwtProviders.idp).toEqual({
      ...provider,
      algorithms: ["RS256", "ES256", "EdDSA"],
      requiredClaims: [],
      clockToleranceSec: 30,
      maxTokenBytes: 8_192,
      jwks: { cacheMaxAgeSec: 600, cooldownSec: 30, maxStaleSec: 86_400, timeoutMs: 3_000 },
      tokenCacheSize: 10_000,
    });
    expect(result.config.routes[0]?.auth).toEqual({ jwt: "idp", scopes: [], claimHeaders: {}, forwardCredentials: false });
  });

  it("refuses none and HMAC algorithms with the reason, and unknown ones", () => {
    const issues = issuesOf(withAuth({ jwt: "idp" }, { idp: { ...provider, algorithms: ["none", "HS256", "RS1", "ES256"] } }));
    expect(issues).toEqual([
      { path: "jwtProviders.idp.algorithms[0]", message: expect.stringContaining("'none' and HMAC algorithms cannot be verified") },
      { path: "jwtProviders.idp.algorithms[1]", message: expect.stringContaining("'none' and HMAC algorithms cannot be verified") },
      { path: "jwtProviders.idp.algorithms[2]", message: expect.stringContaining("must be one of: RS256") },
    ]);
  });

  it("requires an audience and an https JWKS URI on a public host", () => {
    const { audience: _, ...noAudience } = provider;
    expect(issuesOf(withAuth({ jwt: "idp" }, { idp: noAudience })).map((i) => i.path)).toEqual(["jwtProviders.idp.audience"]);
    const plain = issuesOf(withAuth({ jwt: "idp" }, { idp: { ...provider, jwksUri: "http://idp.example.com/jwks" } }));
    expect(plain).toEqual([{ path: "jwtProviders.idp.jwksUri", message: expect.stringContaining("must use https") }]);
    const internal = issuesOf(withAuth({ jwt: "idp" }, { idp: { ...provider, jwksUri: "https://169.254.169.254/jwks" } }));
    expect(internal[0]?.message).toContain("link-local or private");
    expect(parseConfig(withAuth({ jwt: "idp" }, { idp: { ...provider, jwksUri: "http://127.0.0.1:9000/jwks" } }), dev).ok).toBe(true);
  });

  it("checks the route's auth block against the providers and the gateway's own headers", () => {
    expect(issuesOf(withAuth({ jwt: "nope" }))).toEqual([
      { path: "routes[0].auth.jwt", message: "names provider 'nope', which is not defined in jwtProviders" },
    ]);
    expect(issuesOf(withAuth({}))).toEqual([{ path: "routes[0].auth", message: "must enable at least one method: jwt or apiKey" }]);
    expect(issuesOf(withAuth({ jwt: "idp", token: { header: "x-t", cookie: "s" } }))).toEqual([
      { path: "routes[0].auth.token", message: "must name exactly one of header, cookie or query" },
    ]);
    const reserved = issuesOf(withAuth({ jwt: "idp", claimHeaders: { sub: "X-Request-Id", email: "x-forwarded-user" } }));
    expect(reserved).toEqual([
      { path: "routes[0].auth.claimHeaders.sub", message: "is a header the gateway owns" },
      { path: "routes[0].auth.claimHeaders.email", message: "is a header the gateway owns" },
    ]);
    expect(issuesOf(withAuth({ apiKey: {}, claimHeaders: { sub: "x-api-key" } }))).toEqual([
      { path: "routes[0].auth.claimHeaders", message: "'x-api-key' is the header the credential arrives in" },
    ]);
  });
});
