import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER, newSigner, type Signer } from "../../../test/auth-support.ts";
import { installRoute, laterStages, send, stageApp } from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import { newRequestRecord } from "../../lib/request-record.ts";
import { createApiKey } from "../../services/api-keys/store.ts";
import type { JwksSource } from "../../services/jwks/key-set.ts";
import { authenticate } from "./index.ts";

const CONFIG: GatewayConfigInput = {
  clusters: { o: { targets: [{ url: "http://127.0.0.1:9" }] } },
  jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: "https://idp.stage.test/jwks" } },
  routes: [
    { id: "open", match: { path: "/open" }, cluster: "o" },
    { id: "keys", match: { path: "/keys" }, cluster: "o", auth: { apiKey: {}, claimHeaders: { sub: "x-consumer" } } },
    {
      id: "jwt",
      match: { path: "/jwt" },
      cluster: "o",
      auth: { jwt: "idp", scopes: ["orders:read"], claimHeaders: { sub: "x-user", org: "x-org", roles: "x-roles" } },
    },
  ],
};

/** Serves `jwks` from memory, as a warm isolate has it: no identity provider in the way. */
function memorySource(jwks: string): JwksSource {
  return {
    fetchRemote: async () => jwks,
    readShared: async () => undefined,
    writeShared: async () => {},
  };
}

/** An identity provider that cannot be reached, with nothing cached. */
const unreachableSource: JwksSource = {
  fetchRemote: async () => {
    throw new Error("connect failed");
  },
  readShared: async () => undefined,
  writeShared: async () => {},
};

let signer: Signer;
let jwks: string;

beforeAll(async () => {
  signer = await newSigner("ES256");
  jwks = JSON.stringify({ keys: [signer.publicJwk] });
});

/** The stage on route `routeId`, its later stages, and the request's record. */
function authApp(routeId: string, source: JwksSource = memorySource(jwks)) {
  const routed = installRoute(CONFIG, { routeId, jwksSource: source });
  const later = laterStages();
  const record = newRequestRecord("GET", Date.now());
  return { app: stageApp(authenticate, { ...routed.vars, record }, later.handler), later, record };
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("authenticate stage", () => {
  it("lets a route without auth through with no identity", async () => {
    const { app, later, record } = authApp("open");
    expect((await send(app, "/open", {}, env)).status).toBe(200);
    expect(later.seen[0]?.identity).toBeUndefined();
    expect(later.seen[0]?.identityHeaders).toBeUndefined();
    expect(record.auth).toBeNull();
  });

  it("accepts a stored API key: the consumer's identity and its claim headers go to the later stages", async () => {
    const { key } = await createApiKey(env.CONFIG, { consumer: "acme", scopes: ["orders:read"], rateLimitKey: "gold" });
    const { app, later, record } = authApp("keys");
    const response = await send(app, "/keys", { headers: { "x-api-key": key } }, env);
    expect(response.status).toBe(200);
    const identity = later.seen[0]?.identity;
    expect(identity).toMatchObject({ method: "api-key", subject: "acme", consumer: "acme", rateLimitKey: "gold" });
    expect(identity?.scopes.has("orders:read")).toBe(true);
    expect(later.seen[0]?.identityHeaders).toEqual([["x-consumer", "acme"]]);
    expect(record.auth).toBe("api-key");
  });

  it("refuses an unknown, malformed or missing API key with 401 and an ApiKey challenge, never reaching later stages", async () => {
    const { app, later, record } = authApp("keys");
    for (const key of ["egk_no-such-key-in-kv", "short", "x".repeat(300), null]) {
      const response = await send(app, "/keys", key === null ? {} : { headers: { "x-api-key": key } }, env);
      if (key !== null) expect(await response.clone().text()).not.toContain(key.slice(0, 12));
      await expectProblem(response, 401, "unauthorized");
      expect(response.headers.get("www-authenticate")).toBe('ApiKey realm="edgegate", header="x-api-key"');
    }
    expect(later.calls).toBe(0);
    expect(record.auth).toBe("refused");
  });

  it("accepts a valid JWT: the subject's identity, and the route's claims as headers on c.var.identityHeaders", async () => {
    const { app, later, record } = authApp("jwt");
    const token = await signer.sign({ sub: "u-7", org: "acme", roles: ["admin", "ops"], scope: "orders:read orders:write" });
    const response = await send(app, "/jwt", bearer(token), env);
    expect(response.status).toBe(200);
    expect(later.seen[0]?.identity).toMatchObject({ method: "jwt", subject: "u-7", consumer: null });
    const headers = new Map(later.seen[0]?.identityHeaders);
    expect(headers.get("x-user")).toBe("u-7");
    expect(headers.get("x-org")).toBe("acme");
    expect(headers.get("x-roles")).toBe("admin, ops");
    expect(record.auth).toBe("jwt");
    // A claim that would not reach the upstream byte for byte (here: a header injection) is left out, not altered.
    const injected = await signer.sign({ sub: "u-8", org: "acme\r\nx-admin: true", scope: "orders:read" });
    expect((await send(app, "/jwt", bearer(injected), env)).status).toBe(200);
    expect(later.seen[1]?.identityHeaders).toEqual([["x-user", "u-8"]]);
  });

  it("refuses a forged, expired, mis-addressed or unsigned token with 401 invalid_token, never reaching later stages", async () => {
    const { app, later } = authApp("jwt");
    // Another key under the key id the provider publishes: a forgery.
    const forger = await newSigner("ES256", signer.kid);
    const unsigned = `${btoa(JSON.stringify({ alg: "none" })).replace(/=+$/, "")}.${btoa(JSON.stringify({ sub: "u-7" })).replace(/=+$/, "")}.`;
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      await forger.sign({ scope: "orders:read" }),
      await signer.sign({ scope: "orders:read", iat: now - 7_200, exp: now - 3_600 }),
      await signer.sign({ scope: "orders:read", aud: "https://someone-else.example" }),
      await signer.sign({ scope: "orders:read", iss: "https://evil.example/" }),
      unsigned,
    ];
    for (const token of tokens) {
      const response = await send(app, "/jwt", bearer(token), env);
      await expectProblem(response, 401, "unauthorized");
      expect(response.headers.get("www-authenticate")).toMatch(
        /^Bearer realm="edgegate", error="invalid_token", error_description="[^"]+"$/,
      );
    }
    expect(later.calls).toBe(0);
  });

  it("challenges a request without a token with a bare Bearer challenge (RFC 6750 section 3.1), ignoring a token in the query", async () => {
    const { app, later } = authApp("jwt");
    const token = await signer.sign({ scope: "orders:read" });
    for (const init of [{}, { headers: { authorization: `Basic ${btoa("u:p")}` } }]) {
      const response = await send(app, `/jwt?access_token=${token}`, init, env);
      await expectProblem(response, 401, "unauthorized");
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="edgegate"');
    }
    expect(later.calls).toBe(0);
  });

  it("answers 403 insufficient_scope when a valid token lacks a scope the route requires", async () => {
    const { app, later } = authApp("jwt");
    const response = await send(app, "/jwt", bearer(await signer.sign({ scope: "orders:write" })), env);
    await expectProblem(response, 403, "forbidden");
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="edgegate", error="insufficient_scope", scope="orders:read"');
    expect(later.calls).toBe(0);
  });

  it("answers 503 auth-unavailable with Retry-After when key records or the provider's keys cannot be read, judging nothing", async () => {
    const keys = authApp("keys");
    const brokenKv = { get: () => Promise.reject(new Error("KV unavailable")) } as unknown as KVNamespace;
    const unbound: Bindings = { CONFIG: brokenKv };
    const byKey = await send(keys.app, "/keys", { headers: { "x-api-key": "egk_a-well-formed-key" } }, unbound);
    const jwt = authApp("jwt", unreachableSource);
    const byToken = await send(jwt.app, "/jwt", bearer(await signer.sign({ scope: "orders:read" })), env);
    for (const response of [byKey, byToken]) {
      await expectProblem(response, 503, "auth-unavailable");
      expect(response.headers.get("retry-after")).toBe("5");
      expect(response.headers.get("www-authenticate")).toBeNull();
    }
    expect(keys.later.calls + jwt.later.calls).toBe(0);
  });
});
