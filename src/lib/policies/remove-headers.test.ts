import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/schema.ts";
import type { ConfigIssue } from "../config/fields.ts";
import { upstreamRequestHeaders } from "../headers.ts";
import { removeHeaders } from "./remove-headers.ts";
import type { InboundOutcome, PolicyRequest, RequestEdits } from "./types.ts";

/** A config with the instance `strip`, listed where its options say it acts. */
function configWith(options: unknown) {
  const has = (key: string) => typeof options === "object" && options !== null && key in options;
  const lists = { inbound: has("request") ? ["strip"] : [], outbound: has("response") ? ["strip"] : [] };
  return {
    clusters: { origin: { targets: [{ url: "https://origin.example.com" }] } },
    policies: { strip: { use: "remove-headers", options } },
    routes: [{ id: "r", match: { path: "/*" }, cluster: "origin", policies: lists }],
  };
}

function issuesOf(options: unknown): ConfigIssue[] {
  const result = parseConfig(configWith(options), { allowPrivateUpstreams: false });
  return result.ok ? [] : result.issues;
}

function compiled(options: unknown) {
  return removeHeaders.compile("strip", v.parse(removeHeaders.options, options));
}

const at: PolicyRequest = {
  request: new Request("https://gateway.test/x"),
  clientIp: "203.0.113.7",
  requestId: "req-1",
  routeId: "r",
  params: {},
  identity: undefined,
  env: {},
  waitUntil: () => {},
};

describe("remove-headers: options", () => {
  it("takes lists of names, lower-cased", () => {
    const options = v.parse(removeHeaders.options, { request: ["X-Debug", "Cookie"], response: ["Server", "X-Powered-By", "Set-Cookie"] });
    expect(options).toEqual({ request: ["x-debug", "cookie"], response: ["server", "x-powered-by", "set-cookie"] });
    expect(removeHeaders.directions(options)).toEqual({ inbound: "late", outbound: true });
    expect(removeHeaders.directions(v.parse(removeHeaders.options, { response: ["server"] }))).toEqual({ inbound: null, outbound: true });
    expect(removeHeaders.bindings(options)).toEqual([]);
  });

  it("needs request, response or both, each naming at least one field", () => {
    expect(issuesOf({})).toContainEqual({ path: "policies.strip.options", message: "must set request, response or both" });
    expect(issuesOf({ request: [] })).toContainEqual({
      path: "policies.strip.options.request",
      message: "must name at least one header; leave it out for none",
    });
    expect(issuesOf({ request: Array.from({ length: 65 }, (_, i) => `x-${i}`) })[0]?.message).toBe("must name at most 64 headers");
  });

  it.each([
    "x-forwarded-for",
    "X_Forwarded_Proto",
    "forwarded",
    "x-real-ip",
    "x-request-id",
    "traceparent",
    "x-edgegate-mirror",
    "cf-connecting-ip",
    "true-client-ip",
    "connection",
    "host",
    "content-length",
    "transfer-encoding",
    "content-encoding",
  ])("refuses to remove %s from the request: the gateway sets it, so the removal could not hold", (name) => {
    expect(issuesOf({ request: [name] })).toEqual([{ path: "policies.strip.options.request[0]", message: expect.any(String) }]);
  });

  it.each(["x-request-id", "content-length", "content-encoding", "cf-ray", "connection"])(
    "refuses to remove %s from the response",
    (name) => {
      expect(issuesOf({ response: ["server", name] })).toEqual([
        { path: "policies.strip.options.response[1]", message: expect.any(String) },
      ]);
    },
  );

  it("removes the upstream's cookies from the response, and a credential from the request", () => {
    expect(issuesOf({ response: ["set-cookie"], request: ["authorization", "cookie"] })).toEqual([]);
  });

  it("refuses a name given twice in any spelling an origin folds", () => {
    expect(issuesOf({ request: ["X-Debug", "x_debug"] })).toEqual([
      { path: "policies.strip.options.request[1]", message: "is the field 'X-Debug' again (names are compared in lower case, '_' as '-')" },
    ]);
  });
});

describe("remove-headers: what it does", () => {
  it("removes every spelling of a name from the client's request", async () => {
    const outcome = (await compiled({ request: ["X-Debug"] }).inbound?.(at)) as Extract<InboundOutcome, { kind: "continue" }>;
    expect(outcome).toEqual({ kind: "continue", decision: "removed", editRequest: { set: [], remove: ["x-debug"] } });
    const edit = outcome.editRequest as RequestEdits;
    const out = upstreamRequestHeaders(
      new Headers([
        ["X-Debug", "1"],
        ["x_debug", "1"],
        ["X_DEBUG", "1"],
        ["x-debugger", "kept"],
      ]),
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
    expect([...out.keys()].filter((name) => name.includes("debug"))).toEqual(["x-debugger"]);
  });

  it("removes fields from the response, every Set-Cookie among them", async () => {
    const response = new Response(null, {
      headers: [
        ["server", "nginx"],
        ["x-powered-by", "PHP"],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["x-kept", "1"],
      ],
    });
    const outcome = await compiled({ response: ["Server", "x-powered-by", "set-cookie"] }).outbound?.({ ...at, response });
    expect(outcome).toEqual({ decision: "removed" });
    expect([...response.headers.keys()]).toEqual(["x-kept"]);
  });

  it("acts only where it has a list", () => {
    expect(compiled({ response: ["server"] }).inbound).toBeNull();
    expect(compiled({ request: ["x-debug"] }).outbound).toBeNull();
  });
});
