/**
 * set-headers and remove-headers through the Worker: what the origin receives (a secret from a
 * binding, the request's values, verified claims), that a client's forged copy of an injected field
 * never arrives in any spelling, that the secret appears in no response and no log line, that a
 * config naming a secret the deployment lacks is refused at publish, and the response edits on an
 * upstream's answer and on the gateway's own problem.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { admin, currentVersion } from "../admin-support.ts";
import { AUDIENCE, ISSUER, identityProvider, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { linesDuring, loggedLines } from "../log-capture.ts";
import { applyConfig, closedOrigin, expectProblem, gateway, origin } from "../support.ts";

// Set for the test Worker in vitest.config.ts.
const SECRET = (env as unknown as Record<string, unknown>).ORIGIN_SHARED_SECRET as string;
const keySet = `headers-${crypto.randomUUID()}`;

interface Echo {
  headers: Record<string, string>;
  rawHeaders: string[];
}

/** Every raw field the origin received whose name folds (`_` as `-`, any case) onto `name`, as [name, value]. */
function received(echo: Echo, name: string): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    const field = echo.rawHeaders[i] as string;
    if (field.toLowerCase().replaceAll("_", "-") === name) fields.push([field, echo.rawHeaders[i + 1] as string]);
  }
  return fields;
}

/** What the client got, all of it: status line, every header field, the body. */
async function wholeAnswer(response: Response): Promise<string> {
  return `${response.status}\n${[...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n")}\n\n${await response.text()}`;
}

let signer: Signer;

function config(extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    observability: { accessLog: { sampleRate: 1 }, serverTiming: true },
    clusters: { origin: { targets: [{ url: origin }] }, down: { targets: [{ url: closedOrigin }] } },
    jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${keySet}` } },
    policies: {
      "origin-secret": { use: "set-headers", options: { request: { "X-Origin-Secret": { secret: "ORIGIN_SHARED_SECRET" } } } },
      "request-values": {
        use: "set-headers",
        options: {
          request: {
            "x-client-ip": { from: "client-ip" },
            "x-gateway-request-id": { from: "request-id" },
            "x-route": { from: "route-id" },
            "x-api-version": "2024-01",
          },
        },
      },
      claims: { use: "set-headers", options: { request: { "x-tenant": { claim: "tenant" }, "x-roles": { claim: "roles" } } } },
      "served-by": { use: "set-headers", options: { response: { "x-served-by": "edgegate", "x-route": { from: "route-id" } } } },
      "hide-origin": { use: "remove-headers", options: { response: ["set-cookie", "x-origin-hit"] } },
      "no-debug": { use: "remove-headers", options: { request: ["x-debug"] } },
    },
    routes: [
      {
        id: "secret",
        match: { path: "/secret/*" },
        cluster: "origin",
        rewrite: { path: "/echo" },
        policies: { inbound: ["origin-secret"] },
      },
      {
        id: "secret-quiet",
        match: { path: "/secret-quiet/*" },
        cluster: "origin",
        rewrite: { path: "/status/200" },
        policies: { inbound: ["origin-secret"] },
      },
      { id: "secret-down", match: { path: "/secret-down/*" }, cluster: "down", policies: { inbound: ["origin-secret"] } },
      {
        id: "values",
        match: { path: "/values/*" },
        cluster: "origin",
        rewrite: { path: "/echo" },
        policies: { inbound: ["request-values"] },
      },
      {
        id: "claims",
        match: { path: "/claims/*" },
        cluster: "origin",
        rewrite: { path: "/echo" },
        auth: { jwt: "idp" },
        policies: { inbound: ["claims"] },
      },
      {
        id: "response",
        match: { path: "/response" },
        cluster: "origin",
        rewrite: { path: "/coalesce" },
        policies: { outbound: ["served-by", "hide-origin"] },
      },
      { id: "response-down", match: { path: "/response-down/*" }, cluster: "down", policies: { outbound: ["served-by"] } },
      {
        id: "response-denied",
        match: { path: "/response-denied/*" },
        cluster: "origin",
        auth: { jwt: "idp" },
        policies: { outbound: ["served-by"] },
      },
      { id: "strip", match: { path: "/strip/*" }, cluster: "origin", rewrite: { path: "/echo" }, policies: { inbound: ["no-debug"] } },
    ],
    ...extra,
  };
}

beforeAll(async () => {
  expect(SECRET).toMatch(/^test-origin-secret-/);
  signer = await newSigner("ES256");
  await publishKeys(keySet, [signer.publicJwk]);
  await applyConfig(config());
});

describe("set-headers: a secret for the origin", () => {
  it("reaches the origin once, in place of every spelling a client forged", async () => {
    const response = await gateway("/secret/x", {
      headers: [
        ["X-Origin-Secret", "forged"],
        ["x_origin_secret", "forged-underscore"],
        ["X_ORIGIN-SECRET", "forged-mixed"],
      ],
    });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(received(echo, "x-origin-secret")).toEqual([["x-origin-secret", SECRET]]);
  });

  it("appears in no response and no log line: an upstream's answer, a forged request, the gateway's 502", async () => {
    const answers: string[] = [];
    const lines = await linesDuring("access", async () => {
      answers.push(await wholeAnswer(await gateway("/secret-quiet/x")));
      answers.push(await wholeAnswer(await gateway("/secret-quiet/x", { headers: { "x-origin-secret": "guess" } })));
      const down = await gateway("/secret-down/x");
      answers.push(await wholeAnswer(down.clone()));
      await expectProblem(down, 502, "upstream-unavailable");
    });
    expect(answers[0]).toMatch(/^200\n/);
    expect(answers[2]).toMatch(/^502\n/);
    for (const answer of answers) expect(answer).not.toContain(SECRET);
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => line.decisions)).toEqual(Array(3).fill(expect.objectContaining({ policies: { "origin-secret": "set" } })));
    expect(JSON.stringify(loggedLines())).not.toContain(SECRET);
  });
});

describe("set-headers: the request's values and claims", () => {
  it("sends the client address, the request id, the route id and a literal, never the client's own", async () => {
    const response = await gateway("/values/x", {
      clientIp: "198.51.100.23",
      headers: { "x-client-ip": "10.0.0.1", x_route: "admin", "X-Gateway-Request-Id": "mine", "x-api-version": "1999" },
    });
    const echo = (await response.json()) as Echo;
    expect(received(echo, "x-client-ip")).toEqual([["x-client-ip", "198.51.100.23"]]);
    expect(received(echo, "x-route")).toEqual([["x-route", "values"]]);
    expect(received(echo, "x-gateway-request-id")).toEqual([["x-gateway-request-id", response.headers.get("x-request-id") as string]]);
    expect(received(echo, "x-api-version")).toEqual([["x-api-version", "2024-01"]]);
  });

  it("leaves out the client address where the platform gave none (a local run)", async () => {
    const echo = (await (await exports.default.fetch(new Request("http://gateway.test/values/x"))).json()) as Echo;
    expect(received(echo, "x-client-ip")).toEqual([]);
  });

  it("forwards verified claims byte for byte; a claim the caller lacks is left out, and the client's copy goes too", async () => {
    const full = await signer.sign({ tenant: "acme", roles: ["admin", "ops"] });
    const echo = (await (
      await gateway("/claims/x", { headers: { authorization: `Bearer ${full}`, "x-tenant": "other", x_roles: "root" } })
    ).json()) as Echo;
    expect(received(echo, "x-tenant")).toEqual([["x-tenant", "acme"]]);
    expect(received(echo, "x-roles")).toEqual([["x-roles", "admin, ops"]]);

    const bare = await signer.sign({ tenant: " padded " });
    const [line] = await linesDuring("access", async () => {
      const response = await gateway("/claims/x", { headers: { authorization: `Bearer ${bare}`, "X-Tenant": "other", "x-roles": "root" } });
      const without = (await response.json()) as Echo;
      expect(received(without, "x-tenant")).toEqual([]);
      expect(received(without, "x-roles")).toEqual([]);
    });
    expect(line?.decisions).toMatchObject({ policies: { claims: "partial" } });
  });

  it("remove-headers takes every spelling of a field from the client's request", async () => {
    const echo = (await (
      await gateway("/strip/x", {
        headers: [
          ["X-Debug", "1"],
          ["x_debug", "1"],
          ["x-debugger", "kept"],
        ],
      })
    ).json()) as Echo;
    expect(received(echo, "x-debug")).toEqual([]);
    expect(received(echo, "x-debugger")).toEqual([["x-debugger", "kept"]]);
  });
});

describe("set-headers and remove-headers: the response", () => {
  it("edit an upstream's answer: fields set over the upstream's, its cookies and markers removed", async () => {
    const response = await gateway(`/response?ms=0&setCookie=1&key=${crypto.randomUUID()}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-served-by")).toBe("edgegate");
    expect(response.headers.get("x-route")).toBe("response");
    expect(response.headers.has("set-cookie")).toBe(false);
    expect(response.headers.has("x-origin-hit")).toBe(false);
    expect(response.headers.get("x-request-id")).toMatch(/.+/);
    await response.text();
  });

  it("edit the gateway's own problems: a 502 and a 401", async () => {
    const down = await gateway("/response-down/x");
    expect(down.headers.get("x-served-by")).toBe("edgegate");
    expect(down.headers.get("x-route")).toBe("response-down");
    await expectProblem(down, 502, "upstream-unavailable");
    const denied = await gateway("/response-denied/x");
    expect(denied.headers.get("x-served-by")).toBe("edgegate");
    await expectProblem(denied, 401, "unauthorized");
  });
});

describe("set-headers: publishing through the admin API", () => {
  it("refuses a config naming a secret binding the deployment lacks, with the field path; the binding name is all the config holds", async () => {
    const version = await currentVersion();
    const precondition: Record<string, string> = version === null ? { "if-none-match": "*" } : { "if-match": `"${version}"` };
    const missing = config();
    missing.policies = {
      ...missing.policies,
      "missing-secret": { use: "set-headers", options: { request: { "x-origin-secret": { secret: "NOT_A_BINDING_HERE" } } } },
    };
    const refused = await expectProblem(await admin("PUT", "/config", { body: missing, headers: precondition }), 422, "invalid-config");
    expect(refused.issues).toEqual([
      { path: "policies.missing-secret.options", message: "names the binding 'NOT_A_BINDING_HERE', which this deployment does not have" },
    ]);
    expect(await currentVersion()).toBe(version);

    const published = await admin("PUT", "/config", { body: config(), headers: precondition });
    expect(published.status).toBe(201);
    const views = await Promise.all(["/config", "/config/routes/secret", "/config/versions"].map((path) => admin("GET", path)));
    for (const view of views) {
      const text = await view.text();
      expect(view.status).toBe(200);
      expect(text).not.toContain(SECRET);
    }
    expect(await (await admin("GET", "/config")).text()).toContain('"secret":"ORIGIN_SHARED_SECRET"');
  });
});
