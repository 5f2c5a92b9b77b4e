import { describe, expect, it } from "vitest";
import { downstreamResponse, upstreamRequestHeaders } from "./headers.ts";

const client = { ip: "203.0.113.7", proto: "https", host: "api.example.com" };
const ids = {
  allow: null,
  strip: null,
  stripCookie: null,
  extra: null,
  policy: null,
  requestId: "req-1",
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  tracestate: null,
};

describe("hop-by-hop fields", () => {
  it("drops RFC 9110 hop-by-hop fields, Proxy-* and whatever Connection names", () => {
    const headers = new Headers({
      connection: "close, X-Secret-Hop",
      "keep-alive": "timeout=5",
      te: "trailers",
      trailer: "expires",
      upgrade: "websocket",
      "proxy-authorization": "Basic eA==",
      "proxy-connection": "keep-alive",
      "x-secret-hop": "1",
      accept: "application/json",
    });
    expect([...downstreamResponse(new Response(null, { headers }), null, "r").headers.keys()]).toEqual(["accept", "x-request-id"]);
    const upstream = upstreamRequestHeaders(headers, client, ids);
    for (const name of [
      "connection",
      "keep-alive",
      "te",
      "trailer",
      "upgrade",
      "proxy-authorization",
      "proxy-connection",
      "x-secret-hop",
    ]) {
      expect(upstream.has(name)).toBe(false);
    }
    expect(upstream.get("accept")).toBe("application/json");
  });
});

describe("upstreamRequestHeaders", () => {
  it("replaces client-sent forwarding headers with the gateway's own", () => {
    const incoming = new Headers({
      "x-forwarded-for": "1.2.3.4",
      "x-forwarded-host": "evil.example",
      "x-forwarded-proto": "http",
      "x-forwarded-port": "1",
      "x-real-ip": "1.2.3.4",
      forwarded: "for=1.2.3.4",
    });
    const headers = upstreamRequestHeaders(incoming, client, ids);
    expect(headers.get("x-forwarded-for")).toBe("203.0.113.7");
    expect(headers.get("x-real-ip")).toBe("203.0.113.7");
    expect(headers.get("x-forwarded-host")).toBe("api.example.com");
    expect(headers.get("x-forwarded-proto")).toBe("https");
    expect(headers.has("x-forwarded-port")).toBe(false);
    expect(headers.get("forwarded")).toBe("for=203.0.113.7;host=api.example.com;proto=https");
  });

  it("quotes IPv6 in Forwarded and says unknown without a client IP", () => {
    expect(upstreamRequestHeaders(new Headers(), { ...client, ip: "2001:db8::1" }, ids).get("forwarded")).toBe(
      'for="[2001:db8::1]";host=api.example.com;proto=https',
    );
    const anonymous = upstreamRequestHeaders(new Headers({ "x-forwarded-for": "1.2.3.4" }), { ...client, ip: null }, ids);
    expect(anonymous.get("forwarded")).toContain("for=unknown");
    expect(anonymous.has("x-forwarded-for")).toBe(false);
  });

  it("strips credential and identity headers and a credential cookie, then adds the gateway's identity headers", () => {
    const incoming = new Headers({ authorization: "Bearer t", "x-user-id": "forged", cookie: "a=1; session=t; b=2", accept: "*/*" });
    const headers = upstreamRequestHeaders(incoming, client, {
      ...ids,
      allow: new Set(["accept"]),
      strip: new Set(["authorization", "x-user-id"]),
      stripCookie: "session",
      extra: [["x-user-id", "user-1"]],
    });
    expect(headers.has("authorization")).toBe(false);
    expect(headers.get("x-user-id")).toBe("user-1");
    expect(headers.has("cookie")).toBe(false);
    const withCookies = upstreamRequestHeaders(incoming, client, { ...ids, stripCookie: "session" });
    expect(withCookies.get("cookie")).toBe("a=1; b=2");
  });

  it("applies the allowlist but keeps body framing and the gateway's headers", () => {
    const incoming = new Headers({ accept: "*/*", cookie: "s=1", "content-type": "text/plain", "content-encoding": "gzip", "x-keep": "1" });
    const headers = upstreamRequestHeaders(incoming, client, { ...ids, allow: new Set(["x-keep"]) });
    expect(headers.has("cookie")).toBe(false);
    expect(headers.has("accept")).toBe(false);
    expect(headers.get("x-keep")).toBe("1");
    expect(headers.get("content-type")).toBe("text/plain");
    expect(headers.get("content-encoding")).toBe("gzip");
    expect(headers.get("x-request-id")).toBe("req-1");
    expect(headers.get("traceparent")).toBe(ids.traceparent);
  });

  it("drops an untrusted tracestate when the trace was restarted", () => {
    expect(upstreamRequestHeaders(new Headers({ tracestate: "a=b" }), client, ids).has("tracestate")).toBe(false);
    expect(upstreamRequestHeaders(new Headers(), client, { ...ids, tracestate: "a=b" }).get("tracestate")).toBe("a=b");
  });
});

describe("upstreamRequestHeaders: spellings an origin folds together", () => {
  /** How CGI, WSGI, PHP and Rack name a field: case-insensitive, `_` and `-` alike. */
  const fold = (name: string) => name.toLowerCase().replaceAll("_", "-");
  const strip = new Set(["x-user-id", "x-tenant-id", "authorization", "x-api-key", "x-access-token"]);
  const owned = [
    ...strip,
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-anything",
    "x-real-ip",
    "forwarded",
    "x-request-id",
    "traceparent",
    "tracestate",
    "keep-alive",
    "transfer-encoding",
    "proxy-authorization",
    "proxy-connection",
    "x-hop",
  ];
  /** Every mix of `_` and `-` between the name's parts, in lower and upper case. */
  const spellings = (name: string) => {
    const parts = name.split("-");
    const out: string[] = [];
    for (let mask = 0; mask < 2 ** (parts.length - 1); mask++) {
      let spelled = parts[0] as string;
      for (let i = 1; i < parts.length; i++) spelled += (mask & (1 << (i - 1)) ? "_" : "-") + parts[i];
      out.push(spelled, spelled.toUpperCase());
    }
    return out;
  };

  it("strips every client spelling of a field the gateway sets or strips", () => {
    const incoming = new Headers({ connection: "x-hop" });
    for (const name of owned) for (const spelled of spellings(name)) incoming.append(spelled, "forged");
    const headers = upstreamRequestHeaders(incoming, client, {
      ...ids,
      strip,
      tracestate: "a=b",
      extra: [
        ["x-user-id", "alice"],
        ["x-tenant-id", "t1"],
      ],
    });
    for (const [name, value] of headers) {
      expect(value, name).not.toContain("forged");
      expect(name.includes("_"), name).toBe(false);
    }
    expect(headers.get("x-user-id")).toBe("alice");
    for (const name of headers.keys()) expect(owned.includes(fold(name)) || name === "host", name).toBe(true);
  });

  it("strips client spellings of the fields the platform sets, and keeps the platform's own", () => {
    const platform = ["cf-connecting-ip", "cf-ipcountry", "cf-ray", "cf-visitor", "true-client-ip", "cdn-loop"];
    const incoming = new Headers(platform.map((name) => [name, "real"]));
    for (const name of platform) for (const spelled of spellings(name)) if (spelled.includes("_")) incoming.append(spelled, "forged");
    const headers = upstreamRequestHeaders(incoming, client, { ...ids, strip });
    for (const [name, value] of headers) expect(value, name).not.toContain("forged");
    for (const name of platform) expect(headers.get(name), name).toBe("real");
  });

  it("keeps underscore names that fold onto nothing the gateway owns", () => {
    const incoming = new Headers({ x_custom_flag: "1", accept_language: "de", x_user: "kept" });
    const headers = upstreamRequestHeaders(incoming, client, { ...ids, strip });
    expect(headers.get("x_custom_flag")).toBe("1");
    expect(headers.get("accept_language")).toBe("de");
    expect(headers.get("x_user")).toBe("kept");
  });

  it("still applies the allowlist to underscore names", () => {
    const incoming = new Headers({ x_keep: "1", "x-keep": "2", x_user_id: "forged" });
    const headers = upstreamRequestHeaders(incoming, client, { ...ids, allow: new Set(["x-keep", "x_user_id"]), strip });
    expect(headers.has("x_keep")).toBe(false);
    expect(headers.get("x-keep")).toBe("2");
    expect(headers.has("x_user_id")).toBe(false);
  });
});

describe("downstreamResponse", () => {
  it("keeps status and body, strips hop-by-hop fields, keeps every Set-Cookie and sets the request id", async () => {
    const upstream = new Headers([
      ["connection", "x-internal"],
      ["x-internal", "1"],
      ["transfer-encoding", "chunked"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["x-request-id", "from-the-upstream"],
    ]);
    const response = downstreamResponse(
      new Response("ignored", { status: 418, statusText: "Teapot", headers: upstream }),
      new Response("body").body,
      "req-9",
    );
    expect(response.status).toBe(418);
    expect(response.statusText).toBe("Teapot");
    expect(await response.text()).toBe("body");
    const headers = response.headers;
    expect(headers.has("x-internal")).toBe(false);
    expect(headers.has("transfer-encoding")).toBe(false);
    expect(headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(headers.get("x-request-id")).toBe("req-9");
  });
});
