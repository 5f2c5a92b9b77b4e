import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import type { ConfigIssue } from "../config/fields.ts";
import { upstreamRequestHeaders } from "../headers.ts";
import type { Identity } from "../identity.ts";
import { PolicyFailure } from "./custom.ts";
import { type GATEWAY_BINDING_NAMES, setHeaders } from "./set-headers.ts";
import type { InboundOutcome, PolicyRequest, RequestEdits } from "./types.ts";

const SECRET = "s3cr3t-value-that-must-stay-upstream";

// The gateway's own bindings, which no policy may send upstream, are exactly the Worker's: a name
// listed that is not a binding, or a binding (added to wrangler.jsonc or src/env.ts) left off the
// list, fails to compile.
type Listed = (typeof GATEWAY_BINDING_NAMES)[number];
const everyListedIsABinding: [Exclude<Listed, keyof Bindings>] extends [never] ? true : false = true;
const everyBindingIsListed: [Exclude<keyof Bindings, Listed>] extends [never] ? true : false = true;
void everyListedIsABinding;
void everyBindingIsListed;

/** A config with the instance `inject`, listed where its options say it acts. */
function configWith(options: unknown) {
  const has = (key: string) => typeof options === "object" && options !== null && key in options;
  const lists = { inbound: has("request") ? ["inject"] : [], outbound: has("response") ? ["inject"] : [] };
  return {
    clusters: { origin: { targets: [{ url: "https://origin.example.com" }] } },
    policies: { inject: { use: "set-headers", options } },
    routes: [{ id: "r", match: { path: "/*" }, cluster: "origin", policies: lists }],
  };
}

function issuesOf(options: unknown, validation: Parameters<typeof parseConfig>[1] = { allowPrivateUpstreams: false }): ConfigIssue[] {
  const result = parseConfig(configWith(options), validation);
  return result.ok ? [] : result.issues;
}

function compiled(options: unknown) {
  return setHeaders.compile("inject", v.parse(setHeaders.options, options));
}

function identity(claims: Record<string, unknown>): Identity {
  return { method: "jwt", subject: "alice", consumer: null, scopes: new Set(), claims, rateLimitKey: "alice" };
}

function at(extra: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    request: new Request("https://gateway.test/x"),
    clientIp: "203.0.113.7",
    requestId: "req-1",
    routeId: "orders",
    params: {},
    identity: undefined,
    env: { ORIGIN_SHARED_SECRET: SECRET },
    waitUntil: () => {},
    ...extra,
  };
}

async function edits(options: unknown, request: Partial<PolicyRequest> = {}): Promise<{ decision: string; edit: RequestEdits }> {
  const inbound = compiled(options).inbound;
  if (inbound === null) throw new Error("no inbound step");
  const outcome = (await inbound(at(request))) as Extract<InboundOutcome, { kind: "continue" }>;
  expect(outcome.kind).toBe("continue");
  return { decision: outcome.decision, edit: outcome.editRequest as RequestEdits };
}

/** The upstream request's headers for a client's `incoming` fields and the policy's edits. */
function upstream(incoming: HeadersInit, edit: RequestEdits): Headers {
  return upstreamRequestHeaders(
    new Headers(incoming),
    { ip: "203.0.113.7", proto: "https", host: "gateway.test" },
    {
      allow: null,
      strip: null,
      stripCookie: null,
      extra: null,
      policy: { set: edit.set, remove: new Set(edit.remove) },
      requestId: "req-1",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: null,
    },
  );
}

describe("set-headers: options", () => {
  it("takes literals, request values, claims and secrets, and lower-cases the names", () => {
    const options = v.parse(setHeaders.options, {
      request: {
        "X-Origin-Secret": { secret: "ORIGIN_SHARED_SECRET" },
        "X-Client-IP": { from: "client-ip" },
        "x-tenant": { claim: "tenant" },
        "x-api-version": "2024-01",
      },
      response: { "X-Served-By": "edgegate", "x-request-route": { from: "route-id" } },
    });
    expect(Object.keys(options.request ?? {})).toEqual(["x-origin-secret", "x-client-ip", "x-tenant", "x-api-version"]);
    expect(Object.keys(options.response ?? {})).toEqual(["x-served-by", "x-request-route"]);
    expect(setHeaders.directions(options)).toEqual({ inbound: "late", outbound: true });
    expect(setHeaders.bindings(options)).toEqual(["ORIGIN_SHARED_SECRET"]);
    expect(setHeaders.directions(v.parse(setHeaders.options, { response: { "x-a": "b" } }))).toEqual({ inbound: null, outbound: true });
  });

  it("needs request, response or both, each with at least one field", () => {
    expect(issuesOf({})).toContainEqual({ path: "policies.inject.options", message: "must set request, response or both" });
    expect(issuesOf({ request: {} })).toContainEqual({
      path: "policies.inject.options.request",
      message: "must set at least one header; leave it out for none",
    });
    expect(issuesOf({ request: { "x-a": "b" }, extra: 1 })).toContainEqual(
      expect.objectContaining({ path: "policies.inject.options.extra" }),
    );
  });

  const REQUEST_OWNED = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "proxy-authorization",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-anything",
    "x-real-ip",
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-edgegate-mirror",
    "x-edgegate-anything",
    "cf-connecting-ip",
    "cf-ray",
    "true-client-ip",
    "cdn-loop",
    "host",
    "content-length",
    "content-encoding",
  ];

  it.each(REQUEST_OWNED.flatMap((name) => [name, name.toUpperCase(), name.replaceAll("-", "_"), name.replace("-", "_").toUpperCase()]))(
    "refuses to set %s on the request: the gateway, the platform or framing owns it",
    (name) => {
      const found = issuesOf({ request: { [name]: "x" } });
      expect(found).toHaveLength(1);
      expect(found[0]?.path).toBe(
        `policies.inject.options.request${/^[A-Za-z_]\w*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}`,
      );
      expect(found[0]?.message).toMatch(
        /hop-by-hop|frames the body|encoded|request id|own namespace|Cloudflare|authority|connection it saw|trace context/,
      );
    },
  );

  it.each([
    "x-request-id",
    "X_Request_Id",
    "content-length",
    "transfer-encoding",
    "connection",
    "cf-ray",
    "content-encoding",
    "set-cookie",
  ])("refuses to set %s on the response", (name) => {
    expect(issuesOf({ response: { [name]: "x" } })).toHaveLength(1);
  });

  it("sets fields on the response that only a request reserves, and credentials towards the upstream", () => {
    expect(issuesOf({ response: { "x-forwarded-for": "x", traceparent: "x", host: "x" } })).toEqual([]);
    expect(issuesOf({ request: { authorization: { secret: "ORIGIN_TOKEN" }, cookie: "a=b", "content-type": "text/plain" } })).toEqual([]);
  });

  it("refuses a name given twice in any spelling an origin folds", () => {
    expect(issuesOf({ request: { "X-Tenant": "a", x_tenant: "b" } })).toEqual([
      {
        path: "policies.inject.options.request.x_tenant",
        message: "is the field 'X-Tenant' again (names are compared in lower case, '_' as '-')",
      },
    ]);
    expect(issuesOf({ response: { "X-A": "a", "x-a": "b" } })).toHaveLength(1);
  });

  it("refuses names that are not field names", () => {
    expect(issuesOf({ request: { "x tenant": "a" } })[0]?.message).toBe("must be a header field name");
    expect(issuesOf({ request: { "": "a" } })[0]?.message).toBe("must be a header field name");
    expect(issuesOf({ request: { "x-\u212Aelvin": "a" } })[0]?.message).toBe("must be a header field name");
  });

  it.each([
    ["empty", ""],
    ["a leading space", " a"],
    ["a trailing tab", "a\t"],
    ["CR LF", "a\r\nx-admin: true"],
    ["non-ASCII", "J\u00fcrgen"],
    ["over 4096 characters", "a".repeat(4_097)],
  ])("refuses a literal that would not arrive as written: %s", (_, value) => {
    expect(issuesOf({ request: { "x-a": value } })).toEqual([
      {
        path: 'policies.inject.options.request["x-a"]',
        message: "must be 1 to 4096 printable ASCII characters, without leading or trailing spaces",
      },
    ]);
  });

  it("refuses unknown sources, and a source with two keys", () => {
    const rule = /^must be a string, \{"from"/;
    expect(issuesOf({ request: { "x-a": { from: "client-port" } } })[0]?.message).toMatch(rule);
    expect(issuesOf({ request: { "x-a": { claim: "sub", secret: "S" } } })[0]?.message).toMatch(rule);
    expect(issuesOf({ request: { "x-a": { env: "S" } } })[0]?.message).toMatch(rule);
    expect(issuesOf({ request: { "x-a": 42 } })[0]?.message).toMatch(rule);
  });

  it("never puts a secret in a response", () => {
    expect(issuesOf({ response: { "x-a": { secret: "ORIGIN_SHARED_SECRET" } } })).toEqual([
      {
        path: 'policies.inject.options.response["x-a"]',
        message: "cannot be a secret: a secret goes to the upstream, never in a response",
      },
    ]);
  });

  it.each(["ADMIN_TOKEN", "UPSTASH_REDIS_REST_TOKEN", "CONFIG", "RATE_LIMITER"])(
    "refuses the gateway's own binding %s as a secret",
    (binding) => {
      expect(issuesOf({ request: { "x-a": { secret: binding } } })).toEqual([
        {
          path: 'policies.inject.options.request["x-a"].secret',
          message: "is one of the gateway's own bindings, never sent to an upstream",
        },
      ]);
    },
  );

  it.each(["1SECRET", "MY-SECRET", "", "a".repeat(65)])("refuses %j as a binding name", (binding) => {
    expect(issuesOf({ request: { "x-a": { secret: binding } } })[0]?.message).toMatch(/must be a binding name/);
  });

  it("refuses, where the deployment is known, a secret binding it lacks; names the binding, never a value", () => {
    const deployment = { bindings: new Set(["ORIGIN_SHARED_SECRET"]), fetchers: new Set<string>(), customPolicies: new Map() };
    const options = { request: { "x-a": { secret: "ORIGIN_SHARED_SECRET" }, "x-b": { secret: "MISSING_SECRET" } } };
    expect(issuesOf(options, { allowPrivateUpstreams: false, deployment })).toEqual([
      { path: "policies.inject.options", message: "names the binding 'MISSING_SECRET', which this deployment does not have" },
    ]);
    // Offline (the CLI), what only the deployment can answer is not checked.
    expect(issuesOf(options)).toEqual([]);
  });

  it("is listed where it acts: a request-only instance is refused under outbound", () => {
    const config = configWith({ request: { "x-a": "b" } });
    config.routes[0] = { ...config.routes[0], policies: { inbound: [], outbound: ["inject"] } } as never;
    const result = parseConfig(config, { allowPrivateUpstreams: false });
    expect(result.ok ? [] : result.issues).toEqual([
      { path: "routes[0].policies.outbound[0]", message: "'inject' does nothing to a response; list it under inbound" },
    ]);
  });
});

describe("set-headers: the request", () => {
  it("sets literals, the request's values and a secret, and removes every folded spelling of each name", async () => {
    const { decision, edit } = await edits({
      request: {
        "X-Origin-Secret": { secret: "ORIGIN_SHARED_SECRET" },
        "x-client-ip": { from: "client-ip" },
        "x-gateway-request": { from: "request-id" },
        "x-route": { from: "route-id" },
        x_api_version: "2024-01",
      },
    });
    expect(decision).toBe("set");
    expect(edit.set).toEqual([
      ["x-origin-secret", SECRET],
      ["x-client-ip", "203.0.113.7"],
      ["x-gateway-request", "req-1"],
      ["x-route", "orders"],
      ["x_api_version", "2024-01"],
    ]);
    expect(edit.remove).toEqual(["x-origin-secret", "x-client-ip", "x-gateway-request", "x-route", "x-api-version"]);
  });

  it("a client's field of a set name, in any spelling, never reaches the upstream next to the policy's", async () => {
    const { edit } = await edits({ request: { "x-origin-secret": { secret: "ORIGIN_SHARED_SECRET" }, "x-tenant": { claim: "tenant" } } });
    const out = upstream(
      [
        ["X-Origin-Secret", "forged"],
        ["x_origin_secret", "forged"],
        ["X_ORIGIN-Secret", "forged"],
        ["x-tenant", "forged"],
        ["x__tenant", "kept: folds to x--tenant, another name"],
      ],
      edit,
    );
    expect(out.get("x-origin-secret")).toBe(SECRET);
    expect([...out.keys()].filter((name) => name.replaceAll("_", "-") === "x-origin-secret")).toEqual(["x-origin-secret"]);
    // The caller has no tenant claim: the field is left out, and the client's copies are gone all the same.
    expect([...out.keys()].filter((name) => name.replaceAll("_", "-") === "x-tenant")).toEqual([]);
    expect(out.get("x__tenant")).toBe("kept: folds to x--tenant, another name");
  });

  it("forwards a claim byte for byte, or leaves it out, as claim headers do", async () => {
    const options = { request: { "x-tenant": { claim: "tenant" }, "x-roles": { claim: "roles" }, "x-sub": { claim: "sub" } } };
    const full = await edits(options, { identity: identity({ tenant: "acme", roles: ["admin", "ops"], sub: "alice" }) });
    expect(full.decision).toBe("set");
    expect(full.edit.set).toEqual([
      ["x-tenant", "acme"],
      ["x-roles", "admin, ops"],
      ["x-sub", "alice"],
    ]);
    const partial = await edits(options, { identity: identity({ tenant: " acme", roles: ["viewer, admin"], sub: "alice" }) });
    expect(partial.decision).toBe("partial");
    expect(partial.edit.set).toEqual([["x-sub", "alice"]]);
    expect(partial.edit.remove).toEqual(["x-tenant", "x-roles", "x-sub"]);
    const anonymous = await edits(options);
    expect(anonymous.edit.set).toEqual([]);
    // A claim named like an Object.prototype member is not the prototype's.
    const prototype = await edits({ request: { "x-c": { claim: "constructor" } } }, { identity: identity({}) });
    expect(prototype.edit.set).toEqual([]);
  });

  it("leaves out the client address where the platform gave none", async () => {
    const { decision, edit } = await edits({ request: { "x-client-ip": { from: "client-ip" } } }, { clientIp: null });
    expect(decision).toBe("partial");
    expect(edit).toEqual({ set: [], remove: ["x-client-ip"] });
  });

  it.each([
    ["missing", {}, "the secret binding 'ORIGIN_SHARED_SECRET' is not set in this deployment"],
    [
      "not a string (a KV namespace, say)",
      { ORIGIN_SHARED_SECRET: { get() {} } },
      "the binding 'ORIGIN_SHARED_SECRET' is not a secret (a string) but another kind of binding",
    ],
    [
      "not a header value",
      { ORIGIN_SHARED_SECRET: `${SECRET}\r\nx-admin: true` },
      "the secret binding 'ORIGIN_SHARED_SECRET' is not a header value (1 to 4096 printable ASCII characters, without leading or trailing spaces)",
    ],
    ["padded", { ORIGIN_SHARED_SECRET: ` ${SECRET} ` }, "is not a header value"],
  ])("fails, naming the binding and never its value, when the secret is %s", async (_, env, message) => {
    const inbound = compiled({ request: { "x-origin-secret": { secret: "ORIGIN_SHARED_SECRET" } } }).inbound;
    let thrown: unknown;
    try {
      await inbound?.(at({ env }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PolicyFailure);
    expect((thrown as PolicyFailure).message).toContain(message);
    expect((thrown as PolicyFailure).policy).toBe("inject");
    expect(JSON.stringify({ message: (thrown as Error).message, stack: (thrown as Error).stack })).not.toContain(SECRET);
  });
});

describe("set-headers: the response", () => {
  it("replaces the upstream's value, and removes it where the policy has none", async () => {
    const outbound = compiled({
      response: { "x-served-by": "edgegate", "x-route": { from: "route-id" }, "x-tenant": { claim: "tenant" } },
    }).outbound;
    const response = new Response(null, { headers: { "X-Served-By": "origin", "x-tenant": "from the origin" } });
    const outcome = await outbound?.({ ...at(), response });
    expect(outcome).toEqual({ decision: "partial" });
    expect(response.headers.get("x-served-by")).toBe("edgegate");
    expect(response.headers.get("x-route")).toBe("orders");
    expect(response.headers.has("x-tenant")).toBe(false);
  });
});

describe("set-headers: what validation refuses is what the upstream request never takes from a policy", () => {
  // The names the upstream request's builder keeps from a policy (src/lib/headers.ts); validation
  // refuses each of them (and a few framing fields the builder leaves to the runtime).
  it.each([
    "connection",
    "keep-alive",
    "proxy-authorization",
    "x-forwarded-for",
    "x_forwarded_for",
    "forwarded",
    "x-real-ip",
    "x-request-id",
    "traceparent",
    "x-edgegate-mirror",
    "cf-connecting-ip",
    "cf_ipcountry",
    "true-client-ip",
    "cdn-loop",
  ])("%s", (name) => {
    expect(issuesOf({ request: { [name]: "x" } })).toHaveLength(1);
    const out = upstream({}, { set: [[name, "from-a-policy"]], remove: [] });
    expect([...out.values()]).not.toContain("from-a-policy");
  });

  it.each(["x-origin-secret", "authorization", "x-tenant", "accept-language"])("%s: accepted, and delivered", (name) => {
    expect(issuesOf({ request: { [name]: "x" } })).toEqual([]);
    expect(upstream({}, { set: [[name, "from-a-policy"]], remove: [] }).get(name)).toBe("from-a-policy");
  });
});
