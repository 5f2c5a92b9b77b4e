/**
 * User policies through the Worker: the two example modules of policies/ (tenant-header, inbound;
 * redact-fields, outbound) and a test-only module that breaks the contract on purpose
 * (test/policies/misbehaving.ts, bundled only into the Worker under test). A policy that answers
 * keeps the origin uncalled; one that edits the request is heard by the origin, and a client's
 * forgery of what it sets is not; one that throws, returns the wrong thing or hangs is a 500
 * policy-failed problem with nothing of its message, which goes to the log under its name, and the
 * isolate goes on serving. The admin API refuses a config naming a module the bundle lacks, or
 * listing one where it does nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { admin, currentVersion } from "../admin-support.ts";
import { AUDIENCE, ISSUER, identityProvider, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { linesDuring } from "../log-capture.ts";
import { OWNED_FIELDS, SECRET_MESSAGE } from "../policies/misbehaving.ts";
import { applyConfig, expectProblem, gateway, origin, originHits } from "../support.ts";

type Policies = NonNullable<GatewayConfigInput["policies"]>;
type Route = GatewayConfigInput["routes"][number];

const KEY_SET = `policies-custom-${crypto.randomUUID()}`;
let signer: Signer;

beforeAll(async () => {
  signer = await newSigner("ES256");
  await publishKeys(KEY_SET, [signer.publicJwk]);
});

/** A route to the origin's echo (or `path`) under `/<id>/`, running `policies`. */
function route(id: string, policies: Route["policies"], extra: Partial<Route> = {}): Route {
  return { id, match: { path: `/${id}/*` }, cluster: "origin", rewrite: { path: "/echo" }, policies, ...extra };
}

const withAuth = { auth: { jwt: "idp", claimHeaders: { sub: "x-user-id" } } } satisfies Partial<Route>;

function config(policies: Policies, routes: Route[]): GatewayConfigInput {
  return {
    observability: { accessLog: { sampleRate: 1 }, serverTiming: true },
    clusters: { origin: { targets: [{ url: origin }] } },
    jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${KEY_SET}` } },
    policies,
    routes,
  };
}

const misbehaving = (acts: { inbound?: string; outbound?: string }, timeoutMs?: number): Policies[string] => ({
  use: "custom",
  module: "test-misbehaving",
  options: acts,
  ...(timeoutMs !== undefined && { timeoutMs }),
});

async function bearer(claims: Record<string, unknown>): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signer.sign(claims)}` };
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

describe("tenant-header (inbound): a policy that answers, and one that edits the request", () => {
  beforeAll(() =>
    applyConfig(
      config({ tenant: { use: "custom", module: "tenant-header" } }, [
        route("tenant", { inbound: ["tenant"] }, withAuth),
        route("misconfigured", { inbound: ["tenant"] }),
      ]),
    ),
  );

  it("answers 403 itself when the caller's tenant is not the one the request names: the origin is not called", async () => {
    const key = crypto.randomUUID();
    let response: Response | undefined;
    const [line] = await linesDuring("access", async () => {
      response = await gateway(`/tenant/x?key=${key}`, { headers: { ...(await bearer({ tenant: "acme" })), "x-tenant": "globex" } });
    });
    expect(response?.status).toBe(403);
    expect(response?.headers.get("content-type")).toBe("application/problem+json");
    const body = (await response?.json()) as { status: number; detail: string; requestId: string };
    expect(body).toMatchObject({ status: 403, detail: "This credential does not belong to tenant 'globex'." });
    expect(body.requestId).toBe(response?.headers.get("x-request-id"));
    expect(line?.decisions).toMatchObject({ policies: { tenant: "responded" } });
    expect(response?.headers.get("server-timing")).toContain('policy;desc="tenant:responded"');

    const unnamed = await gateway(`/tenant/x?key=${key}`, { headers: await bearer({ tenant: "acme" }) });
    expect(unnamed.status).toBe(403);
    expect(((await unnamed.json()) as { detail: string }).detail).toBe("The request must name its tenant in x-tenant.");
    expect(await originHits(key)).toBe(0);
  });

  it("authentication still comes first: no credential is a 401 before the policy runs", async () => {
    const key = crypto.randomUUID();
    await expectProblem(await gateway(`/tenant/x?key=${key}`, { headers: { "x-tenant": "acme" } }), 401, "unauthorized");
    expect(await originHits(key)).toBe(0);
  });

  it("sends the checked tenant upstream; a client's value of that header, in any spelling, never arrives", async () => {
    const key = crypto.randomUUID();
    let response: Response | undefined;
    const [line] = await linesDuring("access", async () => {
      response = await gateway(`/tenant/x?key=${key}`, {
        headers: {
          ...(await bearer({ tenant: ["globex", "acme"] })),
          "x-tenant": "acme",
          "x-tenant-id": "initech",
          x_tenant_id: "initech",
        },
      });
    });
    expect(response?.status).toBe(200);
    const echo = (await response?.json()) as Echo;
    expect(echo.headers["x-tenant-id"]).toBe("acme");
    expect(echo.headers).not.toHaveProperty("x_tenant_id");
    expect(echo.headers["x-tenant"]).toBe("acme");
    expect(line?.decisions).toMatchObject({ policies: { tenant: "edited" } });
    expect(await originHits(key)).toBe(1);
  });

  it("a client's right value beside a forged underscore spelling: only the checked value arrives", async () => {
    const response = await gateway("/tenant/x", {
      headers: { ...(await bearer({ tenant: "acme" })), "x-tenant": "acme", "x-tenant-id": "acme", x_tenant_id: "initech" },
    });
    const echo = (await response.json()) as Echo;
    expect(echo.headers["x-tenant-id"]).toBe("acme");
    expect(echo.headers).not.toHaveProperty("x_tenant_id");
  });

  it("on a route without auth it throws (a config mistake): 500 policy-failed, the reason in the log only", async () => {
    const key = crypto.randomUUID();
    let response: Response | undefined;
    const [failed] = await linesDuring("policy.failed", async () => {
      response = await gateway(`/misconfigured/x?key=${key}`, { headers: { "x-tenant": "acme" } });
    });
    const problem = await expectProblem(response as Response, 500, "policy-failed");
    expect(JSON.stringify(problem)).not.toContain("auth");
    expect(failed).toMatchObject({ policy: "tenant", reason: "threw", error: { message: "tenant-header needs a route with auth" } });
    expect(await originHits(key)).toBe(0);
  });
});

describe("redact-fields (outbound)", () => {
  beforeAll(() =>
    applyConfig(
      config({ redact: { use: "custom", module: "redact-fields", options: { fields: ["rawHeaders", "sha256", "user-agent"] } } }, [
        route("redacted", { outbound: ["redact"] }),
        route("plain-text", { outbound: ["redact"] }, { rewrite: { path: "/trickle" } }),
        route("missing-upstream", { outbound: ["redact"] }, { rewrite: { path: "/status/404" } }),
      ]),
    ),
  );

  it("removes the configured fields from a JSON body at any depth, keeping status and headers, with the new length", async () => {
    let response: Response | undefined;
    const [line] = await linesDuring("access", async () => {
      response = await gateway("/redacted/x", { method: "POST", body: "twelve bytes", headers: { "user-agent": "probe/1" } });
    });
    expect(response?.status).toBe(200);
    expect(response?.headers.get("content-type")).toBe("application/json");
    const text = (await response?.text()) as string;
    expect(response?.headers.get("content-length")).toBe(String(new TextEncoder().encode(text).byteLength));
    const body = JSON.parse(text) as Record<string, unknown> & { headers: Record<string, string> };
    expect(body).not.toHaveProperty("rawHeaders");
    expect(body).not.toHaveProperty("sha256");
    expect(body.headers).not.toHaveProperty("user-agent");
    expect(body).toMatchObject({ method: "POST", bodyBytes: 12 });
    expect(body.headers["x-request-id"]).toBe(response?.headers.get("x-request-id"));
    expect(line?.decisions).toMatchObject({ policies: { redact: "replaced" } });
  });

  it("applies to the upstream's errors too, and lets a body that is not JSON through as it streams", async () => {
    const missing = await gateway("/missing-upstream/x");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ status: 404 });
    const text = await gateway("/plain-text/x?chunks=3&intervalMs=1");
    expect(text.status).toBe(200);
    expect(await text.text()).toBe("chunk 0\nchunk 1\nchunk 2\n");
  });
});

describe("a policy that breaks the contract: 500 policy-failed, the details in the log under its name", () => {
  beforeAll(() =>
    applyConfig(
      config(
        {
          thrower: misbehaving({ inbound: "throw" }),
          "string-thrower": misbehaving({ inbound: "throw-string" }),
          "wrong-return": misbehaving({ inbound: "return-number" }),
          "url-changer": misbehaving({ inbound: "change-url" }),
          hangs: misbehaving({ inbound: "hang" }, 200),
          "out-thrower": misbehaving({ outbound: "throw" }),
          "body-reader": misbehaving({ outbound: "read-and-return-nothing" }),
          tenant: { use: "custom", module: "tenant-header" },
        },
        [
          route("throws", { inbound: ["thrower"] }),
          route("throws-string", { inbound: ["string-thrower"] }),
          route("wrong-return", { inbound: ["wrong-return"] }),
          route("url-change", { inbound: ["url-changer"] }),
          route("hangs", { inbound: ["hangs"] }),
          route("out-throws", { outbound: ["out-thrower"] }),
          route("body-read", { outbound: ["body-reader"] }),
          route("tenant", { inbound: ["tenant"] }, withAuth),
        ],
      ),
    ),
  );

  /** The answer of `path` and the policy.failed line it logged (exactly one). */
  async function failing(path: string, init: RequestInit = {}) {
    let response: Response | undefined;
    const lines = await linesDuring("policy.failed", async () => {
      response = await gateway(path, init);
    });
    expect(lines).toHaveLength(1);
    const text = await (response as Response).clone().text();
    expect(text).not.toContain(SECRET_MESSAGE);
    expect(text).not.toContain("10.0.0.7");
    return { problem: await expectProblem(response as Response, 500, "policy-failed"), line: lines[0] };
  }

  it("a thrown Error: the origin is not called, the message and stack are logged with the policy's name", async () => {
    const key = crypto.randomUUID();
    let result: Awaited<ReturnType<typeof failing>> | undefined;
    const [access] = await linesDuring("access", async () => {
      result = await failing(`/throws/x?key=${key}`);
    });
    expect(result?.problem.detail).toBe("The route's policy 'thrower' failed.");
    expect(result?.line).toMatchObject({
      level: "error",
      policy: "thrower",
      reason: "threw",
      requestId: result?.problem.requestId,
      error: { name: "Error", message: SECRET_MESSAGE },
    });
    expect((result?.line?.error as { stack?: string } | undefined)?.stack).toContain(SECRET_MESSAGE);
    expect(access).toMatchObject({ status: 500, decisions: { policies: { thrower: "failed" } } });
    expect(await originHits(key)).toBe(0);
  });

  it("a thrown string, a wrong return value, a changed URL: each its own reason in the log", async () => {
    expect((await failing("/throws-string/x")).line).toMatchObject({ policy: "string-thrower", reason: "threw", error: SECRET_MESSAGE });
    expect((await failing("/wrong-return/x")).line).toMatchObject({
      policy: "wrong-return",
      reason: "returned a number where a Request, a Response or nothing (undefined) is allowed",
    });
    const key = crypto.randomUUID();
    expect((await failing(`/url-change/x?key=${key}`)).line).toMatchObject({
      policy: "url-changer",
      reason: "returned a request with another method or URL, which a policy may not change",
    });
    expect(await originHits(key)).toBe(0);
  });

  it("a call that never finishes is answered at its timeoutMs", async () => {
    const started = Date.now();
    const { line } = await failing("/hangs/x");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(line).toMatchObject({ policy: "hangs", reason: "did not finish within 200 ms" });
  });

  it("outbound: a throw replaces the origin's answer; a body read and not replaced is a failure, not an empty answer", async () => {
    const key = crypto.randomUUID();
    expect((await failing(`/out-throws/x?key=${key}`)).line).toMatchObject({ policy: "out-thrower", error: { message: SECRET_MESSAGE } });
    expect((await failing(`/body-read/x?key=${key}`)).line).toMatchObject({
      policy: "body-reader",
      reason: "read the response body and returned no new Response: the body it read is gone",
    });
    expect(await originHits(key)).toBe(2);
  });

  it("the isolate goes on serving: failures and good requests side by side, then good ones alone", async () => {
    const good = async () => {
      const response = await gateway("/tenant/x", { headers: { ...(await bearer({ tenant: "acme" })), "x-tenant": "acme" } });
      expect(response.status).toBe(200);
      return ((await response.json()) as Echo).headers["x-tenant-id"];
    };
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        if (i % 3 === 0) return (await good()) === "acme" ? 200 : -1;
        const response = await gateway(i % 3 === 1 ? "/throws/x" : "/out-throws/x");
        await response.arrayBuffer();
        return response.status;
      }),
    );
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 500)).toHaveLength(20);
    for (let i = 0; i < 3; i++) expect(await good()).toBe("acme");
    const health = await gateway("/__gateway/health");
    expect(health.status).toBe(200);
    await health.arrayBuffer();
  });
});

describe("what a policy can never set on the upstream request", () => {
  beforeAll(() =>
    applyConfig(
      config(
        {
          forger: misbehaving({ inbound: "set-owned" }),
          remover: misbehaving({ inbound: "remove-owned" }),
          marker: misbehaving({ outbound: "mark" }),
        },
        [
          route("forges", { inbound: ["forger"] }, withAuth),
          route("removes", { inbound: ["remover"] }, withAuth),
          route("marks", { outbound: ["marker"] }),
        ],
      ),
    ),
  );

  it("the gateway's and the platform's fields, hop-by-hop ones and forwarded claims keep the gateway's values", async () => {
    for (const path of ["/forges/x", "/removes/x"]) {
      const response = await gateway(path, {
        headers: { ...(await bearer({ sub: "alice" })), "x-tenant": "acme" },
        clientIp: "203.0.113.9",
      });
      expect(response.status).toBe(200);
      const { headers } = (await response.json()) as Echo;
      expect(headers["x-request-id"]).toBe(response.headers.get("x-request-id"));
      expect(headers["x-forwarded-for"]).toBe("203.0.113.9");
      expect(headers["x-real-ip"]).toBe("203.0.113.9");
      expect(headers["x-forwarded-proto"]).toBe("http");
      expect(headers["x-forwarded-host"]).toBe("gateway.test");
      expect(headers.forwarded).toBe("for=203.0.113.9;host=gateway.test;proto=http");
      expect(headers.traceparent).not.toBe(OWNED_FIELDS.find(([name]) => name === "traceparent")?.[1]);
      expect(headers["x-user-id"]).toBe("alice");
      for (const name of ["x_forwarded_for", "x-edgegate-mirror", "cf_ipcountry", "true-client-ip"])
        expect(headers, name).not.toHaveProperty(name);
      expect(headers["cf-connecting-ip"] ?? "203.0.113.9").toBe("203.0.113.9");
      expect(headers.connection).not.toBe("close");
      if (path === "/forges/x") expect(headers["x-policy-mark"]).toBe("kept");
    }
  });

  it("on the response, the request id is the gateway's whatever an outbound policy set; its other fields stay", async () => {
    const response = await gateway("/marks/x");
    const { headers } = (await response.json()) as Echo;
    expect(response.headers.get("x-request-id")).toBe(headers["x-request-id"]);
    expect(response.headers.get("x-request-id")).not.toBe("forged-id");
    expect(response.headers.get("x-policy-mark")).toBe("marker");
  });
});

describe("the admin API refuses a config whose user policies the bundle cannot run", () => {
  const base = (policies: Policies, routes: Route[], extra: Partial<GatewayConfigInput> = {}) => ({
    clusters: { origin: { targets: [{ url: origin }] } },
    policies,
    routes,
    ...extra,
  });

  it("a module the bundle lacks, with its field path, on publish and on validate", async () => {
    const bad = base({ audit: { use: "custom", module: "audit-log" } }, [route("a", { inbound: ["audit"] })]);
    const version = await currentVersion();
    const precondition: Record<string, string> = version === null ? { "if-none-match": "*" } : { "if-match": `"${version}"` };
    const published = await expectProblem(await admin("PUT", "/config", { body: bad, headers: precondition }), 422, "invalid-config");
    expect(published.issues).toEqual([
      {
        path: "policies.audit.module",
        message: "names the policy module 'audit-log', which this deployment does not bundle (policies/audit-log.ts)",
      },
    ]);
    const validated = await expectProblem(await admin("POST", "/config/validate", { body: bad }), 422, "invalid-config");
    expect(validated.issues).toEqual(published.issues);
  });

  it("an inbound-only module listed under outbound, and an outbound-only one under inbound", async () => {
    const bad = base(
      {
        tenant: { use: "custom", module: "tenant-header" },
        redact: { use: "custom", module: "redact-fields", options: { fields: ["x"] } },
      },
      [route("a", { inbound: ["redact"], outbound: ["tenant"] })],
      { defaultPolicies: { outbound: ["tenant"] } },
    );
    const problem = await expectProblem(await admin("POST", "/config/validate", { body: bad }), 422, "invalid-config");
    expect(problem.issues).toEqual(
      expect.arrayContaining([
        { path: "routes[0].policies.inbound[0]", message: "'redact' does nothing to a request; list it under outbound" },
        { path: "routes[0].policies.outbound[0]", message: "'tenant' does nothing to a response; list it under inbound" },
        { path: "defaultPolicies.outbound[0]", message: "'tenant' does nothing to a response; list it under inbound" },
      ]),
    );
    expect(problem.issues).toHaveLength(3);
  });

  it("a module that exports neither function (a default export, say), wherever it is listed", async () => {
    const bad = base({ shapeless: { use: "custom", module: "test-misshapen" } }, [route("a", { inbound: ["shapeless"] })]);
    const problem = await expectProblem(await admin("POST", "/config/validate", { body: bad }), 422, "invalid-config");
    expect(problem.issues).toEqual([
      {
        path: "routes[0].policies.inbound[0]",
        message:
          "'shapeless' does nothing to a request or a response (policies/test-misshapen.ts exports neither an inbound nor an outbound function)",
      },
    ]);
  });

  it("a timeoutMs out of its bounds; the bundled modules, each where it acts, are accepted", async () => {
    const outOfBounds = base({ t: { use: "custom", module: "tenant-header", timeoutMs: 0 } }, [route("a", { inbound: ["t"] })]);
    const problem = await expectProblem(await admin("POST", "/config/validate", { body: outOfBounds }), 422, "invalid-config");
    expect(problem.issues).toEqual([{ path: "policies.t.timeoutMs", message: "must be >= 1" }]);
    const good = base(
      {
        tenant: { use: "custom", module: "tenant-header" },
        redact: { use: "custom", module: "redact-fields", options: { fields: ["x"] } },
      },
      [route("a", { inbound: ["tenant"], outbound: ["redact"] }, withAuth)],
      { jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${KEY_SET}` } } },
    );
    const validated = await admin("POST", "/config/validate", { body: good });
    expect(validated.status, await validated.clone().text()).toBe(200);
    expect(await validated.json()).toMatchObject({ valid: true });
  });
});
