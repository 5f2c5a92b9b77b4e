/**
 * The cors policy through the Worker: preflights answered before authentication and never
 * forwarded, the CORS fields on every answer to an allowed origin (the upstream's, the gateway's
 * 401, 429 and 502, a shared coalesced answer), none for any other origin, and the decisions in the
 * access log.
 */
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { AUDIENCE, ISSUER, identityProvider, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { burst, coalesceCounters, freshRouteId } from "../coalesce-support.ts";
import { linesDuring } from "../log-capture.ts";
import { applyConfig, closedOrigin, expectProblem, gateway, origin, originHits } from "../support.ts";

const APP = "https://app.example.com";

type CorsOptions = Record<string, unknown>;

/**
 * Routes that list the `browsers` cors policy: a JWT route (to the origin's /echo), a rate-limited
 * one, a coalescing one, one whose upstream is down, one under maintenance after the cors policy,
 * and, without the policy, the JWT route as it was.
 */
async function setUp(options: CorsOptions, coalesceId = "shared"): Promise<Signer> {
  const set = `cors-${crypto.randomUUID()}`;
  const signer = await newSigner("ES256");
  await publishKeys(set, [signer.publicJwk]);
  const cors = { inbound: ["browsers"] };
  const config: GatewayConfigInput = {
    observability: { accessLog: { sampleRate: 1 } },
    clusters: { origin: { targets: [{ url: origin }] }, down: { targets: [{ url: closedOrigin }] } },
    jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${set}` } },
    policies: {
      browsers: { use: "cors", options },
      maintenance: { use: "terminate", options: { retryAfterSec: 60 } },
    },
    routes: [
      { id: "secure", match: { path: "/secure/*" }, cluster: "origin", rewrite: { path: "/echo" }, auth: { jwt: "idp" }, policies: cors },
      { id: "bare", match: { path: "/bare/*" }, cluster: "origin", rewrite: { path: "/echo" }, auth: { jwt: "idp" } },
      {
        id: "limited",
        match: { path: "/limited/*" },
        cluster: "origin",
        rewrite: { path: "/count" },
        rateLimits: [{ id: "tight", limit: 1, windowSec: 60 }],
        policies: cors,
      },
      { id: coalesceId, match: { path: "/coalesce" }, cluster: "origin", coalesce: {}, policies: cors },
      { id: "varied", match: { path: "/varied" }, cluster: "origin", rewrite: { path: "/coalesce" }, policies: cors },
      { id: "down", match: { path: "/down/*" }, cluster: "down", policies: cors },
      { id: "closed", match: { path: "/closed/*" }, cluster: "origin", policies: { inbound: ["browsers", "maintenance"] } },
      {
        id: "reads",
        match: { path: "/reads/*", methods: ["GET"] },
        cluster: "origin",
        rewrite: { path: "/count" },
        policies: cors,
      },
    ],
  };
  await applyConfig(config);
  return signer;
}

/** A browser's preflight for a GET with an Authorization header. */
function preflight(path: string, from: string, method = "GET", headers = "authorization"): Promise<Response> {
  return gateway(path, {
    method: "OPTIONS",
    headers: { origin: from, "access-control-request-method": method, "access-control-request-headers": headers },
  });
}

function corsFields(response: Response): string[] {
  return [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));
}

function exposed(response: Response): string[] {
  return (response.headers.get("access-control-expose-headers") ?? "").split(", ");
}

function varied(response: Response): string[] {
  return (response.headers.get("vary") ?? "").split(",").map((name) => name.trim().toLowerCase());
}

describe("cors: preflights", () => {
  it("answers a browser's preflight to an authenticated route 204, before authentication, and never calls the origin", async () => {
    await setUp({ origins: [APP], headers: ["authorization", "content-type"], maxAgeSec: 1200 });
    const key = crypto.randomUUID();
    const response = await preflight(`/secure/orders?key=${key}`, APP, "PUT", "authorization,content-type");
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(response.headers.get("access-control-allow-methods")).toBe("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    expect(response.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
    expect(response.headers.get("access-control-max-age")).toBe("1200");
    expect(response.headers.has("access-control-allow-credentials")).toBe(false);
    expect(response.headers.get("vary")).toBe("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    expect(response.headers.get("x-request-id")).toMatch(/.+/);
    expect(response.headers.has("www-authenticate")).toBe(false);
    expect(await originHits(key)).toBe(0);
  });

  it("without the policy, the same preflight is asked for a credential: the reason it exists", async () => {
    await setUp({ origins: [APP] });
    await expectProblem(await preflight("/bare/orders", APP), 401, "unauthorized");
  });

  it("answers a preflight before rate limiting, and does not count it", async () => {
    await setUp({ origins: [APP] });
    const clientIp = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    for (let i = 0; i < 3; i++) {
      const response = await gateway("/limited/x", {
        method: "OPTIONS",
        clientIp,
        headers: { origin: APP, "access-control-request-method": "POST" },
      });
      expect(response.status).toBe(204);
    }
    expect((await gateway("/limited/x", { clientIp, headers: { origin: APP } })).status).toBe(200);
  });

  it("gives a disallowed origin a 204 without CORS fields, and still never calls the origin", async () => {
    await setUp({ origins: [APP], headers: ["authorization"] });
    const key = crypto.randomUUID();
    const response = await preflight(`/secure/orders?key=${key}`, "https://evil.example.org");
    expect(response.status).toBe(204);
    expect(corsFields(response)).toEqual([]);
    expect(response.headers.get("vary")).toBe("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    expect(await originHits(key)).toBe(0);
  });

  it("refuses a header not allowed without forwarding the preflight, stating the lists for the browser to check", async () => {
    await setUp({ origins: [APP], headers: ["content-type"] });
    const key = crypto.randomUUID();
    const response = await preflight(`/secure/orders?key=${key}`, APP, "GET", "authorization");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-headers")).toBe("content-type");
    expect(await originHits(key)).toBe(0);
  });

  it("proxies an OPTIONS that is no preflight (no Access-Control-Request-Method), as before", async () => {
    await setUp({ origins: [APP] });
    const key = crypto.randomUUID();
    const response = await gateway(`/limited/x?key=${key}`, { method: "OPTIONS", headers: { origin: APP } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    await response.text();
    expect(await originHits(key)).toBe(1);
  });

  it("reaches a route that names its methods without OPTIONS: a preflight goes to the route serving the method it asks about", async () => {
    await setUp({ origins: [APP] });
    const key = crypto.randomUUID();
    const response = await preflight(`/reads/x?key=${key}`, APP);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(await originHits(key)).toBe(0);
    // A preflight for a method the route does not serve, and a plain OPTIONS, are still 405.
    await expectProblem(await preflight(`/reads/x?key=${key}`, APP, "DELETE"), 405, "method-not-allowed");
    await expectProblem(await gateway(`/reads/x?key=${key}`, { method: "OPTIONS", headers: { origin: APP } }), 405, "method-not-allowed");
    expect(await originHits(key)).toBe(0);
  });

  it("answers before a terminate policy listed after it; the maintenance answer then carries the CORS fields", async () => {
    await setUp({ origins: [APP] });
    expect((await preflight("/closed/x", APP)).status).toBe(204);
    const response = await gateway("/closed/x", { headers: { origin: APP } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(exposed(response)).toContain("retry-after");
    await expectProblem(response, 503, "terminated");
  });
});

describe("cors: actual requests", () => {
  it("gives an allowed origin the CORS fields on the upstream's answer", async () => {
    const signer = await setUp({ origins: [APP], exposeHeaders: ["x-origin-hit"] });
    const response = await gateway("/secure/orders", { headers: { origin: APP, authorization: `Bearer ${await signer.sign()}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(exposed(response)).toEqual(["x-request-id", "www-authenticate", "retry-after", "ratelimit", "ratelimit-policy", "x-origin-hit"]);
    expect(varied(response)).toContain("origin");
    expect(response.headers.has("access-control-allow-methods")).toBe(false);
    await response.text();
  });

  it("lets the page read the gateway's 401, WWW-Authenticate exposed", async () => {
    await setUp({ origins: [APP] });
    const response = await gateway("/secure/orders", { headers: { origin: APP, authorization: "Bearer not-a-token" } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(exposed(response)).toEqual(expect.arrayContaining(["www-authenticate", "x-request-id"]));
    expect(varied(response)).toContain("origin");
    await expectProblem(response, 401, "unauthorized");
  });

  it("lets the page read the gateway's 429, Retry-After and RateLimit exposed", async () => {
    await setUp({ origins: [APP] });
    const clientIp = `192.0.2.${Math.floor(Math.random() * 250) + 1}`;
    const first = await gateway("/limited/x", { clientIp, headers: { origin: APP } });
    expect(first.status).toBe(200);
    await first.text();
    const response = await gateway("/limited/x", { clientIp, headers: { origin: APP } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(exposed(response)).toEqual(expect.arrayContaining(["retry-after", "ratelimit", "ratelimit-policy"]));
    await expectProblem(response, 429, "rate-limited");
  });

  it("lets the page read the gateway's 502 when the upstream is down", async () => {
    await setUp({ origins: [APP] });
    const response = await gateway("/down/x", { headers: { origin: APP } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    await expectProblem(response, 502, "upstream-unavailable");
  });

  it("gives a disallowed origin no CORS fields (even with a valid credential), and Vary: Origin", async () => {
    const signer = await setUp({ origins: [APP] });
    for (const from of ["https://evil.example.org", "null"]) {
      const response = await gateway("/secure/orders", { headers: { origin: from, authorization: `Bearer ${await signer.sign()}` } });
      expect(response.status).toBe(200);
      expect(corsFields(response)).toEqual([]);
      expect(varied(response)).toContain("origin");
      await response.text();
    }
    const unauthenticated = await gateway("/secure/orders", { headers: { origin: "https://evil.example.org" } });
    expect(corsFields(unauthenticated)).toEqual([]);
    await expectProblem(unauthenticated, 401, "unauthorized");
  });

  it("matches subdomains of one label or more, never the bare parent or a look-alike", async () => {
    await setUp({ origins: ["https://*.example.com"] });
    const cases: Array<[string, boolean]> = [
      ["https://app.example.com", true],
      ["https://a.b.example.com", true],
      ["https://example.com", false],
      ["https://evil-example.com", false],
      ["https://example.com.evil.com", false],
      ["https://app.example.com.evil.com", false],
      ["http://app.example.com", false],
      ["https://app.example.com:8443", false],
    ];
    for (const [from, allowed] of cases) {
      const answer = await preflight("/secure/x", from, "GET", "");
      expect(answer.headers.get("access-control-allow-origin"), from).toBe(allowed ? from : null);
      const response = await gateway(`/varied?key=${crypto.randomUUID()}&ms=0`, { headers: { origin: from } });
      expect(response.headers.get("access-control-allow-origin"), from).toBe(allowed ? from : null);
      await response.text();
    }
  });

  it("keeps the upstream's Vary and adds Origin to it", async () => {
    await setUp({ origins: [APP] });
    const response = await gateway(`/varied?key=${crypto.randomUUID()}&ms=0&vary=Accept-Language`, { headers: { origin: APP } });
    expect(response.status).toBe(200);
    expect(response.headers.get("vary")).toBe("Accept-Language, Origin");
    await response.text();
    const other = await gateway(`/varied?key=${crypto.randomUUID()}&ms=0&vary=Accept-Language`);
    expect(other.headers.get("vary")).toBe("Accept-Language, Origin");
    await other.text();
  });

  it("with credentials, echoes the origin and says true, on preflights and answers", async () => {
    const signer = await setUp({ origins: ["https://*.example.com"], headers: ["authorization"], credentials: true });
    const answer = await preflight("/secure/x", APP);
    expect(answer.headers.get("access-control-allow-origin")).toBe(APP);
    expect(answer.headers.get("access-control-allow-credentials")).toBe("true");
    const response = await gateway("/secure/x", { headers: { origin: APP, authorization: `Bearer ${await signer.sign()}` } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    await response.text();
  });

  it("with origins '*', answers '*' to any origin and without one, with no Vary: Origin", async () => {
    await setUp({ origins: ["*"] });
    for (const headers of [{ origin: "https://anyone.example" }, {}] as Array<Record<string, string>>) {
      const response = await gateway(`/varied?key=${crypto.randomUUID()}&ms=0`, { headers });
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
      expect(response.headers.has("access-control-allow-credentials")).toBe(false);
      expect(response.headers.has("vary")).toBe(false);
      await response.text();
    }
  });

  it("gives each caller sharing a coalesced answer its own CORS fields", async () => {
    const id = freshRouteId();
    await setUp({ origins: ["https://*.example.com"] }, id);
    const key = crypto.randomUUID();
    const origins = ["https://a.example.com", "https://b.example.com", "https://evil.example.org", "https://c.example.com"];
    const responses = await burst(origins.length, `/coalesce?key=${key}&ms=300`, (i) => ({ headers: { origin: origins[i] as string } }));
    const bodies = await Promise.all(responses.map((response) => response.json() as Promise<{ hit: number }>));
    expect(bodies.map((body) => body.hit)).toEqual([1, 1, 1, 1]);
    expect(await originHits(key)).toBe(1);
    expect(responses.map((response) => response.headers.get("access-control-allow-origin"))).toEqual([
      "https://a.example.com",
      "https://b.example.com",
      null,
      "https://c.example.com",
    ]);
    for (const response of responses) expect(varied(response)).toEqual(["origin"]);
    expect((await coalesceCounters(id))['coalesce_requests_total{role="follower"}']).toBe(3);
  });
});

describe("cors: decisions", () => {
  it("records each request's decision in the access log", async () => {
    await setUp({ origins: [APP], headers: ["authorization"] });
    const lines = await linesDuring("access", async () => {
      for (const response of [
        await preflight("/secure/x", APP),
        await preflight("/secure/x", "https://evil.example.org"),
        await preflight("/secure/x", APP, "GET", "x-unknown"),
        await gateway("/down/x", { headers: { origin: APP } }),
        await gateway("/down/x", { headers: { origin: "https://evil.example.org" } }),
        await gateway("/down/x"),
      ]) {
        await response.text();
      }
    });
    expect(lines.map((line) => (line.decisions as { policies: Record<string, string> }).policies.browsers)).toEqual([
      "preflight",
      "preflight-refused",
      "preflight-refused",
      "allowed",
      "not-allowed",
      "no-origin",
    ]);
  });
});
