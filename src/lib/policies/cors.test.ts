import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/schema.ts";
import type { ConfigIssue } from "../config/fields.ts";
import { allowedEdit, type CorsOptions, corsRules, corsStep, GATEWAY_EXPOSED_HEADERS, preflightAnswer } from "./cors.ts";
import type { InboundOutcome } from "./types.ts";

const APP = "https://app.example.com";

function configWith(options: unknown) {
  return {
    clusters: { api: { targets: [{ url: "https://api.internal.example.com" }] } },
    policies: { browsers: { use: "cors", options } },
    routes: [{ id: "api", match: { path: "/api/*" }, cluster: "api", policies: { inbound: ["browsers"] } }],
  };
}

function parsedOptions(options: unknown): CorsOptions {
  const result = parseConfig(configWith(options), { allowPrivateUpstreams: false });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config.policies.browsers?.options as CorsOptions;
}

function issuesOf(options: unknown): ConfigIssue[] {
  const result = parseConfig(configWith(options), { allowPrivateUpstreams: false });
  if (result.ok) throw new Error("expected the options to be refused");
  return result.issues;
}

function step(options: unknown) {
  return corsStep(corsRules(parsedOptions(options)));
}

function preflight(origin: string, method: string, headers?: string): Request {
  return new Request("https://gw.example.com/api/orders", {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": method,
      ...(headers !== undefined && { "access-control-request-headers": headers }),
    },
  });
}

function answered(outcome: InboundOutcome): Response {
  if (outcome.kind !== "respond") throw new Error(`expected an answer, got ${outcome.decision}`);
  return outcome.response;
}

/** The response fields after the outcome's edit, applied to an upstream answer with `upstream` fields. */
function edited(outcome: InboundOutcome, upstream: Record<string, string> = {}): Headers {
  if (outcome.kind !== "continue" || outcome.editResponse === undefined) throw new Error("expected a response edit");
  const headers = new Headers(upstream);
  outcome.editResponse(headers);
  return headers;
}

function corsFields(headers: Headers): string[] {
  return [...headers.keys()].filter((name) => name.startsWith("access-control-"));
}

describe("cors options", () => {
  it("fills in the defaults", () => {
    expect(parsedOptions({ origins: [APP] })).toEqual({
      origins: [APP],
      headers: [],
      exposeHeaders: [],
      credentials: false,
      maxAgeSec: 600,
    });
  });

  it("needs origins, and names the entry at fault", () => {
    expect(issuesOf({})).toEqual([{ path: "policies.browsers.options.origins", message: "is required" }]);
    expect(issuesOf({ origins: [] })).toEqual([{ path: "policies.browsers.options.origins", message: "must name at least one origin" }]);
    expect(issuesOf({ origins: [APP, "https://app.example.com/", "null"] })).toEqual([
      {
        path: "policies.browsers.options.origins[1]",
        message: "has a path, query or fragment, which an origin never has: write https://app.example.com",
      },
      { path: "policies.browsers.options.origins[2]", message: expect.stringContaining("cannot allow the origin 'null'") },
    ]);
  });

  it("refuses origins '*' with credentials: every site would act as the signed-in user", () => {
    expect(issuesOf({ origins: ["*"], credentials: true })).toEqual([
      { path: "policies.browsers.options.credentials", message: expect.stringContaining("cannot be true with origins '*'") },
    ]);
    expect(parsedOptions({ origins: ["https://*.example.com"], credentials: true }).credentials).toBe(true);
  });

  it("wants '*' alone", () => {
    expect(issuesOf({ origins: ["*", APP] })).toEqual([
      { path: "policies.browsers.options.origins", message: "lists '*', which allows every origin: list it alone" },
    ]);
  });

  it("checks methods, header names and max-age; lower-cases header names", () => {
    expect(issuesOf({ origins: [APP], methods: ["TRACE"], headers: ["x y"], maxAgeSec: 90_000 })).toEqual([
      { path: "policies.browsers.options.methods[0]", message: expect.stringContaining("must be one of: GET") },
      { path: "policies.browsers.options.headers[0]", message: "must be a header field name" },
      { path: "policies.browsers.options.maxAgeSec", message: "must be <= 86400" },
    ]);
    expect(issuesOf({ origins: [APP], methods: [] })).toEqual([
      { path: "policies.browsers.options.methods", message: "must not be empty" },
    ]);
    expect(parsedOptions({ origins: [APP], headers: ["Authorization", "X-Tenant"] }).headers).toEqual(["authorization", "x-tenant"]);
  });

  it("names an unknown option and the one it most likely meant", () => {
    expect(issuesOf({ origins: [APP], maxAge: 60 })).toEqual([
      { path: "policies.browsers.options.maxAge", message: expect.stringContaining("maxAgeSec") },
    ]);
  });
});

describe("cors preflights", () => {
  it("answers an allowed origin 204 with the policy's fields, and never goes on", () => {
    const outcome = step({ origins: [APP], headers: ["authorization", "content-type"], maxAgeSec: 3600 })(
      preflight(APP, "PUT", "authorization,content-type"),
      "req-1",
    );
    expect(outcome.decision).toBe("preflight");
    const response = answered(outcome);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
    expect(Object.fromEntries(response.headers)).toEqual({
      "access-control-allow-origin": APP,
      "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
      "access-control-allow-headers": "authorization, content-type",
      "access-control-max-age": "3600",
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
      "x-request-id": "req-1",
    });
  });

  it("says credentials: true, and echoes the origin, when credentials are allowed", () => {
    const response = answered(step({ origins: ["https://*.example.com"], credentials: true })(preflight(APP, "POST"), "r"));
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
  });

  it("gives a disallowed origin no CORS fields at all, only the Vary", () => {
    const cors = step({ origins: [APP, "https://*.example.com"] });
    for (const origin of [
      "https://evil.example.org",
      "https://example.com",
      "https://evil-example.com",
      "https://example.com.evil.com",
      "null",
    ]) {
      const outcome = cors(preflight(origin, "GET"), "r");
      expect(outcome.decision, origin).toBe("preflight-refused");
      const response = answered(outcome);
      expect(response.status).toBe(204);
      expect(corsFields(response.headers)).toEqual([]);
      expect(response.headers.get("vary")).toBe("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    }
  });

  it("refuses a method or header not allowed, still stating the lists: the browser's console then names what it refused", () => {
    const cors = step({ origins: [APP], methods: ["GET", "POST"], headers: ["x-tenant"] });
    for (const [method, headers] of [
      ["DELETE", undefined],
      ["GET", "authorization"],
      ["GET", "x-tenant,x-other"],
      ["GET", "bad header"],
      ["get", undefined],
    ] as const) {
      const outcome = cors(preflight(APP, method, headers), "r");
      expect(outcome.decision, `${method} ${headers}`).toBe("preflight-refused");
      const response = answered(outcome);
      expect(response.headers.get("access-control-allow-methods")).toBe("GET, POST");
      expect(response.headers.get("access-control-allow-headers")).toBe("x-tenant");
    }
    expect(cors(preflight(APP, "POST", "x-tenant"), "r").decision).toBe("preflight");
    expect(cors(preflight(APP, "GET", " X-Tenant , x-tenant"), "r").decision).toBe("preflight");
  });

  it("with headers '*', grants any header asked for by name, but Authorization only when listed (as Fetch's wildcard)", () => {
    const wild = preflightAnswer(corsRules(parsedOptions({ origins: [APP], headers: ["*"] })), APP, "GET", "authorization,x-a,x-b");
    expect(wild.allowed).toBe(false);
    expect(new Headers(wild.fields).get("access-control-allow-headers")).toBe("x-a, x-b");
    const named = preflightAnswer(
      corsRules(parsedOptions({ origins: [APP], headers: ["*", "authorization"] })),
      APP,
      "GET",
      "authorization,x-a",
    );
    expect(named.allowed).toBe(true);
    expect(new Headers(named.fields).get("access-control-allow-headers")).toBe("authorization, x-a");
    const none = preflightAnswer(corsRules(parsedOptions({ origins: [APP], headers: ["*"] })), APP, "GET", null);
    expect(new Headers(none.fields).has("access-control-allow-headers")).toBe(false);
  });

  it("sends no Access-Control-Allow-Headers when none are allowed, and max-age 0 when asked", () => {
    const answer = preflightAnswer(corsRules(parsedOptions({ origins: [APP], maxAgeSec: 0 })), APP, "GET", null);
    expect(answer.allowed).toBe(true);
    const headers = new Headers(answer.fields);
    expect(headers.has("access-control-allow-headers")).toBe(false);
    expect(headers.get("access-control-max-age")).toBe("0");
  });

  it("with origins '*', answers '*'", () => {
    const response = answered(step({ origins: ["*"] })(preflight("https://any.example", "GET"), "r"));
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.has("access-control-allow-credentials")).toBe(false);
  });

  it("an OPTIONS without Origin or Access-Control-Request-Method is no preflight: it goes on", () => {
    const cors = step({ origins: [APP] });
    const plain = new Request("https://gw.example.com/api", { method: "OPTIONS" });
    expect(cors(plain, "r")).toMatchObject({ kind: "continue", decision: "no-origin" });
    const withOrigin = new Request("https://gw.example.com/api", { method: "OPTIONS", headers: { origin: APP } });
    expect(cors(withOrigin, "r")).toMatchObject({ kind: "continue", decision: "allowed" });
    const notOptions = new Request("https://gw.example.com/api", {
      method: "POST",
      headers: { origin: APP, "access-control-request-method": "POST" },
    });
    expect(cors(notOptions, "r")).toMatchObject({ kind: "continue", decision: "allowed" });
  });
});

describe("cors on actual requests", () => {
  const get = (origin?: string) => new Request("https://gw.example.com/api/orders", origin === undefined ? {} : { headers: { origin } });

  it("gives an allowed origin its fields, the gateway's own headers exposed, Vary: Origin added to the upstream's", () => {
    const outcome = step({ origins: [APP], exposeHeaders: ["X-Total-Count"], credentials: true })(get(APP), "r");
    expect(outcome.decision).toBe("allowed");
    const headers = edited(outcome, { vary: "Accept-Encoding", "content-type": "application/json" });
    expect(headers.get("access-control-allow-origin")).toBe(APP);
    expect(headers.get("access-control-allow-credentials")).toBe("true");
    expect(headers.get("access-control-expose-headers")).toBe([...GATEWAY_EXPOSED_HEADERS, "x-total-count"].join(", "));
    expect(headers.get("vary")).toBe("Accept-Encoding, Origin");
    expect(headers.has("access-control-allow-methods")).toBe(false);
    expect(headers.has("access-control-max-age")).toBe(false);
  });

  it("removes the upstream's CORS fields, whatever the Origin: the gateway owns CORS on the route", () => {
    const upstream = {
      "access-control-allow-origin": "*",
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "x-secret",
      "access-control-allow-methods": "DELETE",
    };
    const cors = step({ origins: [APP] });
    const allowed = edited(cors(get(APP), "r"), upstream);
    expect(allowed.get("access-control-allow-origin")).toBe(APP);
    expect(allowed.has("access-control-allow-credentials")).toBe(false);
    expect(allowed.get("access-control-expose-headers")).not.toContain("x-secret");
    expect(allowed.has("access-control-allow-methods")).toBe(false);
    for (const outcome of [cors(get("https://evil.example"), "r"), cors(get(), "r")]) {
      expect(corsFields(edited(outcome, upstream))).toEqual([]);
    }
  });

  it("gives a disallowed or missing Origin no CORS fields, but Vary: Origin, since the answer depends on it", () => {
    const cors = step({ origins: ["https://*.example.com"] });
    const refused = cors(get("https://example.com.evil.com"), "r");
    expect(refused.decision).toBe("not-allowed");
    expect(Object.fromEntries(edited(refused, { vary: "accept-language" }))).toEqual({ vary: "accept-language, Origin" });
    const none = cors(get(), "r");
    expect(none.decision).toBe("no-origin");
    expect(Object.fromEntries(edited(none))).toEqual({ vary: "Origin" });
  });

  it("adds Origin to Vary once, and leaves Vary: * alone", () => {
    const cors = step({ origins: [APP] });
    expect(edited(cors(get(APP), "r"), { vary: "Origin, Accept" }).get("vary")).toBe("Origin, Accept");
    expect(edited(cors(get(APP), "r"), { vary: "accept, ORIGIN" }).get("vary")).toBe("accept, ORIGIN");
    expect(edited(cors(get(APP), "r"), { vary: "*" }).get("vary")).toBe("*");
  });

  it("with origins '*', answers '*' on every response, Origin or not, and adds no Vary", () => {
    const cors = step({ origins: ["*"] });
    for (const [request, decision] of [
      [get("https://any.example"), "allowed"],
      [get(), "no-origin"],
    ] as const) {
      const outcome = cors(request, "r");
      expect(outcome.decision).toBe(decision);
      const headers = edited(outcome, { "access-control-allow-origin": "https://upstream.example" });
      expect(headers.get("access-control-allow-origin")).toBe("*");
      expect(headers.has("vary")).toBe(false);
    }
  });

  it("with exposeHeaders '*', exposes the fields the response has (never Set-Cookie), so it works with credentials too", () => {
    const outcome = step({ origins: [APP], exposeHeaders: ["*"], credentials: true })(get(APP), "r");
    const headers = edited(outcome, { "x-total-count": "3", "set-cookie": "a=b", etag: '"1"', "access-control-max-age": "5" });
    const exposed = (headers.get("access-control-expose-headers") ?? "").split(", ");
    expect(exposed).toEqual(expect.arrayContaining([...GATEWAY_EXPOSED_HEADERS, "x-total-count", "etag"]));
    expect(exposed).not.toContain("set-cookie");
    expect(exposed.some((name) => name.startsWith("access-control-"))).toBe(false);
  });

  it("each caller's edit is its own: one answer edited for two origins carries each one's", () => {
    const rules = corsRules(parsedOptions({ origins: ["https://*.example.com"] }));
    const a = new Headers({ "content-type": "application/json" });
    const b = new Headers({ "content-type": "application/json" });
    allowedEdit(rules, "https://a.example.com")(a);
    allowedEdit(rules, "https://b.example.com")(b);
    expect(a.get("access-control-allow-origin")).toBe("https://a.example.com");
    expect(b.get("access-control-allow-origin")).toBe("https://b.example.com");
  });
});
