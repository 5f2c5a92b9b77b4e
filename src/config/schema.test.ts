import { describe, expect, it } from "vitest";
import type { ConfigIssue } from "../lib/config/fields.ts";
import { parseConfig } from "./schema.ts";

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
    expect(issues).toEqual([{ path: "routes[0].timeout", message: "unknown field 'timeout' (did you mean 'timeoutMs'?)" }]);
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
    "http://metadata.google.internal/computeMetadata/v1",
    "http://METADATA.GOOG.",
    "http://instance-data.ec2.internal",
    "http://[64:ff9b::a9fe:a9fe]",
    "http://[64:ff9b:1::a00:1]",
    "http://[2002:a00:1::1]",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
    "http://[::ffff:0:7f00:1]",
    "http://[fec0::1]",
    "http://[2001:db8::1]",
    "http://[100::1]",
    "http://192.0.2.10",
    "http://255.255.255.255",
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

  it("takes header and host names in any case, lower-cased, but no letter that only lower-cases to ASCII", () => {
    const route = { ...valid.routes[0], match: { path: "/a", hosts: ["API.Example.com"] }, requestHeaders: { allow: ["X-Tenant"] } };
    const result = parseConfig({ ...valid, routes: [route] }, strict);
    expect(result.ok && result.config.routes[0]).toMatchObject({
      match: { hosts: ["api.example.com"] },
      requestHeaders: { allow: ["x-tenant"] },
    });
    // U+212A KELVIN SIGN lower-cases to an ASCII "k".
    const kelvin = { ...route, match: { path: "/a", hosts: ["\u212Aey.example.com"] }, requestHeaders: { allow: ["x-\u212Aey"] } };
    expect(issuesOf({ ...valid, routes: [kelvin] })).toEqual([
      { path: "routes[0].match.hosts[0]", message: "must be a host name, optionally starting with '*.'" },
      { path: "routes[0].requestHeaders.allow[0]", message: "must be a header field name" },
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

  it.each([
    ["prefix", "/.."],
    ["prefix", "/x/%2E%2E"],
    ["prefix", "/x/%2e%2e/y"],
    ["prefix", "/a/./b"],
    ["prefix", "//a"],
    ["prefix", "/%7Euser"],
    ["stripPrefix", "/api/.."],
    ["prefix", "/a/..;/b"],
  ])("refuses a rewrite %s of %s that an upstream would resolve elsewhere", (field, value) => {
    const route = { ...valid.routes[0], match: { path: "/api/*" }, rewrite: { [field]: value } };
    expect(issuesOf({ ...valid, routes: [route] })).toContainEqual({
      path: `routes[0].rewrite.${field}`,
      message: "must be in normalized form: no '.' or '..' segments (in any spelling), no '//', no escapes of unreserved characters",
    });
  });

  it("refuses, with their paths, the names the schema library would silently drop", () => {
    const document = JSON.parse(
      JSON.stringify({
        ...valid,
        clusters: { ...valid.clusters, placeholder: { targets: [{ url: "https://a.example" }] } },
        jwtProviders: { placeholder: { issuer: "i", audience: "a", jwksUri: "https://idp.example/jwks" } },
        routes: [{ ...valid.routes[0], auth: { apiKey: {}, claimHeaders: { placeholder: "x-a" } }, placeholder: 1 }],
      })
        .replace('"placeholder":{"targets"', '"__proto__":{"targets"')
        .replace('"placeholder":{"issuer"', '"constructor":{"issuer"')
        .replace('"placeholder":"x-a"', '"prototype":"x-a"')
        .replace('"placeholder":1', '"__proto__":1'),
    );
    expect(issuesOf(document)).toEqual(
      expect.arrayContaining([
        { path: "clusters.__proto__", message: "'__proto__' cannot be used as a name or field" },
        { path: "jwtProviders.constructor", message: "'constructor' cannot be used as a name or field" },
        { path: "routes[0].auth.claimHeaders.prototype", message: "'prototype' cannot be used as a name or field" },
        { path: "routes[0].__proto__", message: "'__proto__' cannot be used as a name or field" },
      ]),
    );
    // One issue for each: none also in the schema library's words.
    expect(issuesOf(document).filter((issue) => issue.path === "routes[0].__proto__")).toHaveLength(1);
  });

  it("refuses documents that are not configs at all", () => {
    expect(issuesOf(null)).toEqual([{ path: "(root)", message: "must be an object" }]);
    expect(issuesOf([])).toEqual([{ path: "(root)", message: "must be an object, not an array" }]);
    expect(issuesOf({ ...valid, routes: [["id", "users"]] })).toEqual([{ path: "routes[0]", message: "must be an object, not an array" }]);
    expect(issuesOf({ clusters: [], routes: {} }).map((i) => i.path)).toEqual(["clusters", "routes"]);
    expect(issuesOf({ ...valid, clusters: [] })[0]?.message).toContain("not an array");
  });
});

describe("parseConfig: the $schema key", () => {
  it("accepts a root $schema naming the JSON Schema, and the gateway reads nothing from it", () => {
    const result = parseConfig({ $schema: "../schema/edgegate.schema.json", ...valid }, strict);
    expect(result.ok).toBe(true);
    const plain = parseConfig(valid, strict);
    if (!result.ok || !plain.ok) return;
    const { $schema, ...rest } = result.config;
    expect($schema).toBe("../schema/edgegate.schema.json");
    expect(rest).toEqual(plain.config);
  });

  it("takes it only as a string, and only at the root", () => {
    expect(issuesOf({ $schema: 1, ...valid })).toEqual([{ path: "$schema", message: "must be a string" }]);
    expect(issuesOf({ ...valid, routes: [{ $schema: "x", ...valid.routes[0] }] })).toEqual([
      { path: "routes[0].$schema", message: "unknown field '$schema'" },
    ]);
  });
});

describe("parseConfig: unknown and missing fields", () => {
  const route = valid.routes[0];
  const withCluster = (cluster: Record<string, unknown>) => ({ ...valid, clusters: { users: { ...valid.clusters.users, ...cluster } } });
  const withPolicy = (policy: Record<string, unknown>) => ({
    ...valid,
    routes: [{ ...route, rateLimits: [{ id: "burst", limit: 10, windowSec: 1, ...policy }] }],
  });

  it.each([
    ["at the top", { ...valid, rutes: [] }, "rutes", "unknown field 'rutes' (did you mean 'routes'?)"],
    ["at the top, near nothing", { ...valid, timeotMs: 1 }, "timeotMs", "unknown field 'timeotMs'"],
    [
      "in a route",
      { ...valid, routes: [{ ...route, timeotMs: 1 }] },
      "routes[0].timeotMs",
      "unknown field 'timeotMs' (did you mean 'timeoutMs'?)",
    ],
    ["in a route, near nothing", { ...valid, routes: [{ ...route, colour: "red" }] }, "routes[0].colour", "unknown field 'colour'"],
    [
      "in a route's match",
      { ...valid, routes: [{ ...route, match: { path: "/users/:id", Methods: ["GET"] } }] },
      "routes[0].match.Methods",
      "unknown field 'Methods' (did you mean 'methods'?)",
    ],
    [
      "in a cluster's target",
      withCluster({ targets: [{ url: "https://a.example.com", wieght: 2 }] }),
      "clusters.users.targets[0].wieght",
      "unknown field 'wieght' (did you mean 'weight'?)",
    ],
    [
      "in a cluster's breaker",
      withCluster({ breaker: { halfLife: 10 } }),
      "clusters.users.breaker.halfLife",
      "unknown field 'halfLife' (did you mean 'halfLifeSec'?)",
    ],
    ["in a cluster's breaker, near nothing", withCluster({ breaker: { mood: 1 } }), "clusters.users.breaker.mood", "unknown field 'mood'"],
    [
      "in a rate-limit policy",
      withPolicy({ windowMs: 1000 }),
      "routes[0].rateLimits[0].windowMs",
      "unknown field 'windowMs' (did you mean 'windowSec'?)",
    ],
    ["in a rate-limit policy, near nothing", withPolicy({ burst: 5 }), "routes[0].rateLimits[0].burst", "unknown field 'burst'"],
    [
      "in a retry budget",
      { ...valid, routes: [{ ...route, retry: { budget: { ratoi: 0.1 } } }] },
      "routes[0].retry.budget.ratoi",
      "unknown field 'ratoi' (did you mean 'ratio'?)",
    ],
    [
      "in a JWT provider's jwks block",
      {
        ...valid,
        jwtProviders: { idp: { issuer: "i", audience: "a", jwksUri: "https://idp.example.com/jwks", jwks: { cooldown: 5 } } },
      },
      "jwtProviders.idp.jwks.cooldown",
      "unknown field 'cooldown' (did you mean 'cooldownSec'?)",
    ],
    [
      "in the observability block",
      { ...valid, observability: { servertiming: true } },
      "observability.servertiming",
      "unknown field 'servertiming' (did you mean 'serverTiming'?)",
    ],
  ])("names an unknown field %s by its own path", (_, document, path, message) => {
    expect(issuesOf(document)).toEqual([{ path, message }]);
  });

  it("names every unknown field of an object, not only the first", () => {
    expect(issuesOf({ ...valid, routes: [{ ...route, timeotMs: 1, clustr: "users", zzz: 0 }] })).toEqual([
      { path: "routes[0].timeotMs", message: "unknown field 'timeotMs' (did you mean 'timeoutMs'?)" },
      { path: "routes[0].clustr", message: "unknown field 'clustr' (did you mean 'cluster'?)" },
      { path: "routes[0].zzz", message: "unknown field 'zzz'" },
    ]);
    expect(issuesOf({ ...valid, $schema: "x", timeotMs: 1, extra: 2 }).map((issue) => issue.path)).toEqual(["timeotMs", "extra"]);
  });

  it("names an unknown field beside other problems, and a skipped name once", () => {
    const document = JSON.parse(
      JSON.stringify({ ...valid, routes: [{ ...route, timeoutMs: 0, timeotMs: 1, placeholder: 1 }] }).replace(
        '"placeholder"',
        '"__proto__"',
      ),
    );
    expect(issuesOf(document)).toEqual([
      { path: "routes[0].__proto__", message: "'__proto__' cannot be used as a name or field" },
      { path: "routes[0].timeoutMs", message: "must be >= 1" },
      { path: "routes[0].timeotMs", message: "unknown field 'timeotMs' (did you mean 'timeoutMs'?)" },
    ]);
  });

  it("says a missing field is required, at its own path", () => {
    expect(issuesOf({ clusters: valid.clusters })).toEqual([{ path: "routes", message: "is required" }]);
    expect(issuesOf({ ...valid, routes: [{ match: { path: "/users/:id" }, cluster: "users" }] })).toEqual([
      { path: "routes[0].id", message: "is required" },
    ]);
    expect(issuesOf(withCluster({ targets: [{ weight: 2 }] }))).toEqual([
      { path: "clusters.users.targets[0].url", message: "is required" },
    ]);
    const { limit: _, ...noLimit } = { id: "burst", limit: 10, windowSec: 1 };
    expect(issuesOf({ ...valid, routes: [{ ...route, rateLimits: [noLimit] }] })).toEqual([
      { path: "routes[0].rateLimits[0].limit", message: "is required" },
    ]);
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
    const metadata = issuesOf(withAuth({ jwt: "idp" }, { idp: { ...provider, jwksUri: "https://metadata.google.internal./jwks" } }));
    expect(metadata).toEqual([{ path: "jwtProviders.idp.jwksUri", message: expect.stringContaining("link-local or private") }]);
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

  it("judges claim header names as origins that fold '_' into '-' read them", () => {
    const owned = issuesOf(
      withAuth({ jwt: "idp", claimHeaders: { sub: "X_Request_Id", a: "x_forwarded_for", b: "proxy_user", c: "x_real-ip" } }),
    );
    expect(owned.map((issue) => issue.message)).toEqual(Array(4).fill("is a header the gateway owns"));
    expect(issuesOf(withAuth({ jwt: "idp", claimHeaders: { sub: "x-user-id", uid: "x_user_id" } }))).toEqual([
      { path: "routes[0].auth.claimHeaders", message: "maps two claims to 'x-user-id'" },
    ]);
    expect(issuesOf(withAuth({ apiKey: {}, claimHeaders: { sub: "x_api_key" } }))).toEqual([
      { path: "routes[0].auth.claimHeaders", message: "'x-api-key' is the header the credential arrives in" },
    ]);
  });
});

describe("parseConfig: rate limits", () => {
  const withLimits = (rateLimits: unknown, auth?: unknown) => ({
    ...valid,
    routes: [{ ...valid.routes[0], rateLimits, ...(auth ? { auth } : {}) }],
    ...(auth
      ? { jwtProviders: { idp: { issuer: "https://idp.example.com", audience: "api", jwksUri: "https://idp.example.com/jwks" } } }
      : {}),
  });

  it("fills in the defaults: fixed window, keyed on the client address, exact on Durable Objects, fail open in 300 ms", () => {
    const result = parseConfig(withLimits([{ id: "burst", limit: 10, windowSec: 1 }]), strict);
    expect(result.ok && result.config.routes[0]?.rateLimits).toEqual([
      {
        id: "burst",
        algorithm: "fixed-window",
        limit: 10,
        windowSec: 1,
        key: ["ip"],
        backend: "durable-object",
        mode: "exact",
        onFailure: "open",
        timeoutMs: 300,
        shadow: false,
      },
    ]);
  });

  it("names the field and the reason for each bad policy", () => {
    const issues = issuesOf(
      withLimits([
        { id: "a", limit: 0, windowSec: 1, algorithm: "leaky", backend: "memcached", mode: "eventual", onFailure: "maybe" },
        { id: "b", limit: 5, windowSec: 1, key: ["header:x-forwarded-for", "cookie:sid", "header:Bad Header"] },
        { id: "c", limit: 5, windowSec: 1, refill: 2, leaseSize: 9 },
        { id: "c", limit: 5, windowSec: 1, mode: "local-first", leaseSize: 9, key: ["subject", "ip", "ip"] },
      ]),
    );
    const at = (path: string) => issues.filter((i) => i.path === path).map((i) => i.message);
    expect(at("routes[0].rateLimits[0].limit")).toEqual(["must be >= 1"]);
    expect(at("routes[0].rateLimits[0].algorithm")[0]).toMatch(/must be one of: fixed-window, sliding-window, token-bucket/);
    expect(at("routes[0].rateLimits[0].backend")[0]).toMatch(/durable-object, upstash/);
    expect(at("routes[0].rateLimits[0].mode")[0]).toMatch(/exact, local-first/);
    expect(at("routes[0].rateLimits[0].onFailure")[0]).toMatch(/open, closed/);
    expect(at("routes[0].rateLimits[1].key[0]")[0]).toMatch(/any client can set; use 'ip'/);
    expect(at("routes[0].rateLimits[1].key[1]")[0]).toMatch(/must be 'ip', 'subject'/);
    expect(at("routes[0].rateLimits[1].key[2]")[0]).toMatch(/lower-case header/);
  });

  it("checks policies against each other and the route's auth", () => {
    const issues = issuesOf(
      withLimits([
        { id: "c", limit: 5, windowSec: 1, refill: 2, leaseSize: 9 },
        { id: "c", limit: 5, windowSec: 1, mode: "local-first", leaseSize: 9, key: ["subject", "ip", "ip"] },
      ]),
    );
    expect(issues).toEqual([
      { path: "routes[0].rateLimits[0].refill", message: "only applies to the token-bucket algorithm" },
      { path: "routes[0].rateLimits[0].leaseSize", message: "only applies to mode 'local-first'" },
      { path: "routes[0].rateLimits[1].id", message: "duplicates another policy id of this route" },
      { path: "routes[0].rateLimits[1].leaseSize", message: "must be <= limit (5)" },
      { path: "routes[0].rateLimits[1].key[0]", message: "'subject' needs an authenticated caller; the route has no auth block" },
      { path: "routes[0].rateLimits[1].key[2]", message: "repeats 'ip'" },
    ]);
    const jwtOnly = issuesOf(withLimits([{ id: "q", limit: 5, windowSec: 60, key: ["consumer", "claim:org"] }], { jwt: "idp" }));
    expect(jwtOnly).toEqual([
      { path: "routes[0].rateLimits[0].key[0]", message: "'consumer' comes from API keys; the route's auth has no apiKey" },
    ]);
  });
});

describe("parseConfig: circuit breaking and load shedding", () => {
  const withCluster = (extra: Record<string, unknown>) => ({
    ...valid,
    clusters: { users: { targets: [{ url: "https://users.internal.example.com" }], ...extra } },
  });

  it("fills in the breaker defaults from an empty block", () => {
    const result = parseConfig(withCluster({ breaker: {}, maxInFlight: 500, maxInFlightPerTarget: 100 }), strict);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.clusters.users?.breaker).toEqual({
      failureWeight: 0.6,
      latencyWeight: 0.4,
      threshold: 0.7,
      latencyFloorMs: 25,
      maxLatencyRatio: 4,
      halfLifeSec: 5,
      minRequests: 20,
      baseEjectionSec: 10,
      maxEjectionSec: 300,
      ejectionJitter: 0.2,
      maxEjectionPercent: 50,
      probes: 3,
      probeSuccesses: 3,
      reportIntervalMs: 1_000,
      reportEveryRequests: 1_000,
      objectTimeoutMs: 1_000,
    });
    expect(result.config.clusters.users?.maxInFlight).toBe(500);
  });

  it("names the field and the reason for each bad knob", () => {
    const issues = issuesOf(
      withCluster({
        breaker: {
          failureWeight: 1.5,
          threshold: "high",
          halfLifeSec: 0,
          maxEjectionPercent: 101,
          probes: 0,
          reportIntervalMs: 10,
          surprise: 1,
        },
        maxInFlight: 0,
      }),
    );
    const at = (path: string) => issues.find((issue) => issue.path === `clusters.users.${path}`)?.message;
    expect(at("breaker.failureWeight")).toBe("must be <= 1");
    expect(at("breaker.threshold")).toBe("must be a number");
    expect(at("breaker.halfLifeSec")).toBe("must be >= 1");
    expect(at("breaker.maxEjectionPercent")).toBe("must be <= 100");
    expect(at("breaker.probes")).toBe("must be >= 1");
    expect(at("breaker.reportIntervalMs")).toBe("must be >= 100");
    expect(at("breaker.surprise")).toBeDefined();
    expect(at("maxInFlight")).toBe("must be >= 1");
  });

  it("checks knobs against each other", () => {
    expect(issuesOf(withCluster({ breaker: { baseEjectionSec: 60, maxEjectionSec: 30 } }))).toEqual([
      { path: "clusters.users.breaker.maxEjectionSec", message: "must be >= baseEjectionSec (60)" },
    ]);
    expect(issuesOf(withCluster({ breaker: { failureWeight: 0, latencyWeight: 0 } }))).toEqual([
      { path: "clusters.users.breaker.failureWeight", message: "failureWeight and latencyWeight cannot both be 0" },
    ]);
  });
});

describe("parseConfig: coalescing", () => {
  const withCoalesce = (coalesce: unknown, match: object = { path: "/users/:id" }) => ({
    ...valid,
    routes: [{ ...valid.routes[0], match, coalesce }],
  });

  it("fills in the defaults from an empty block", () => {
    const result = parseConfig(withCoalesce({}), strict);
    expect(result.ok && result.config.routes[0]?.coalesce).toEqual({
      varyHeaders: [],
      public: false,
      maxResponseBytes: 1024 * 1024,
      maxWaiters: 1_000,
      passTtlMs: 5_000,
    });
    const off = parseConfig(valid, strict);
    expect(off.ok && off.config.routes[0]?.coalesce).toBeUndefined();
  });

  it("lower-cases the varying headers", () => {
    const result = parseConfig(withCoalesce({ varyHeaders: ["Accept-Language"] }), strict);
    expect(result.ok && result.config.routes[0]?.coalesce?.varyHeaders).toEqual(["accept-language"]);
  });

  it("names the field and the reason for each bad knob", () => {
    const issues = issuesOf(
      withCoalesce({ varyHeaders: ["bad header\r\n"], public: "yes", maxResponseBytes: -1, maxWaiters: 0, passTtlMs: 1.5, extra: 1 }),
    );
    const at = (path: string) => issues.find((issue) => issue.path === `routes[0].coalesce.${path}`)?.message;
    expect(at("varyHeaders[0]")).toBe("must be a header field name");
    expect(at("public")).toBe("must be true or false");
    expect(at("maxResponseBytes")).toBe("must be >= 0");
    expect(at("maxWaiters")).toBe("must be >= 1");
    expect(at("passTtlMs")).toBe("must be an integer");
    expect(at("extra")).toBeDefined();
  });

  it("refuses coalescing on a route that matches neither GET nor HEAD", () => {
    expect(issuesOf(withCoalesce({}, { path: "/users/:id", methods: ["POST", "PUT"] }))).toEqual([
      { path: "routes[0].coalesce", message: "only applies to GET and HEAD, and the route matches neither" },
    ]);
    expect(parseConfig(withCoalesce({}, { path: "/users/:id", methods: ["HEAD", "POST"] }), strict).ok).toBe(true);
  });
});

describe("parseConfig: traffic management", () => {
  const two = {
    clusters: { v1: { targets: [{ url: "https://v1.example.com" }] }, v2: { targets: [{ url: "https://v2.example.com" }] } },
  };
  const route = (extra: object, match: object = { path: "/users/*" }) => ({
    ...two,
    routes: [{ id: "users", match, cluster: "v1", ...extra }],
  });

  it("fills in mirror and idempotency defaults", () => {
    const result = parseConfig(
      route({ split: { to: [{ cluster: "v2", percent: 1 }] }, mirror: { cluster: "v2" }, idempotency: {} }),
      strict,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.routes[0]?.mirror).toEqual({ cluster: "v2", percent: 100, maxBodyBytes: 64 * 1024, timeoutMs: 5_000 });
    expect(result.config.routes[0]?.idempotency).toEqual({
      ttlSec: 86_400,
      maxRequestBytes: 1024 * 1024,
      maxResponseBytes: 1024 * 1024,
      required: false,
    });
  });

  it("names the field and reason of each bad split", () => {
    const at = (extra: object) => issuesOf(route(extra)).map((issue) => `${issue.path}: ${issue.message}`);
    expect(at({ split: { to: [{ cluster: "v3", percent: 10 }] } })).toEqual([
      "routes[0].split.to[0].cluster: names cluster 'v3', which is not defined in clusters",
    ]);
    expect(at({ split: { to: [{ cluster: "v1", percent: 10 }] } })).toEqual([
      "routes[0].split.to[0].cluster: 'v1' already takes part in this split",
    ]);
    expect(at({ split: { to: [{ cluster: "v2", percent: 101 }] } })).toEqual(["routes[0].split.to[0].percent: must be <= 100"]);
    expect(at({ split: { to: [] } })).toEqual(["routes[0].split.to: must not be empty"]);
    expect(at({ split: { to: [{ cluster: "v2", percent: 10 }], sticky: "header:x-forwarded-for" } })[0]).toContain(
      "which any client can set",
    );
    expect(at({ split: { to: [{ cluster: "v2", percent: 10 }], sticky: "subject" } })).toEqual([
      "routes[0].split.sticky: 'subject' needs an authenticated caller; the route has no auth block",
    ]);
    expect(at({ split: { to: [{ cluster: "v2", percent: 10 }], sticky: "query:x" } })[0]).toContain("must be 'ip', 'subject'");
    expect(at({ split: { to: [{ cluster: "v2", percent: 10 }], override: {} } })).toEqual([
      "routes[0].split.override: must name a header or a cookie",
    ]);
  });

  it("adds up shares across the split's clusters", () => {
    const three = { ...two, clusters: { ...two.clusters, v3: { targets: [{ url: "https://v3.example.com" }] } } };
    const issues = issuesOf({
      ...three,
      routes: [
        {
          id: "r",
          match: { path: "/r" },
          cluster: "v1",
          split: {
            to: [
              { cluster: "v2", percent: 60 },
              { cluster: "v3", percent: 50 },
            ],
          },
        },
      ],
    });
    expect(issues).toEqual([{ path: "routes[0].split.to", message: "shares add up to 110%, more than 100%" }]);
  });

  it("checks mirrors and idempotency against the route", () => {
    expect(issuesOf(route({ mirror: { cluster: "v1" } }))).toEqual([
      { path: "routes[0].mirror.cluster", message: "is the route's own cluster" },
    ]);
    expect(issuesOf(route({ mirror: { cluster: "nope", percent: -1 } })).map((i) => i.path)).toEqual(["routes[0].mirror.percent"]);
    expect(issuesOf(route({ idempotency: {} }, { path: "/users/*", methods: ["GET"] }))).toEqual([
      { path: "routes[0].idempotency", message: "only applies to POST and PATCH, and the route matches neither" },
    ]);
  });
});
