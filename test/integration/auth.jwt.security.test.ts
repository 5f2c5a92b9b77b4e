import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AUDIENCE, authConfig, ISSUER, identityProvider, jwksHits, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { applyConfig, gateway, originHits } from "../support.ts";

const set = `security-${crypto.randomUUID()}`;
let signer: Signer;
const now = () => Math.floor(Date.now() / 1000);

/** Calls the authenticated route with `token`, counting origin hits under a fresh key. */
async function call(token: string, init: { headers?: Record<string, string> } = {}) {
  const key = crypto.randomUUID();
  const response = await gateway(`/secure/x?key=${key}`, { headers: { authorization: `Bearer ${token}`, ...init.headers } });
  return { response, originHits: () => originHits(key) };
}

/** The request was refused as RFC 6750 says, the origin was not called, and the token was not echoed. */
async function expectInvalidToken(token: string, reason?: RegExp) {
  const { response, originHits } = await call(token);
  const body = await response.text();
  expect(response.status).toBe(401);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="edgegate", error="invalid_token"/);
  const problem = JSON.parse(body) as { type: string; detail: string };
  expect(problem.type).toBe("urn:edgegate:problem:unauthorized");
  if (reason) expect(problem.detail).toMatch(reason);
  for (const part of token.split(".")) if (part.length > 8) expect(body).not.toContain(part);
  expect(body).not.toMatch(/JWS|JWT[A-Z]|ERR_/); // jose's internals stay inside
  expect(await originHits()).toBe(0);
}

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));

beforeAll(async () => {
  signer = await newSigner("RS256");
  await publishKeys(set, [signer.publicJwk]);
  await applyConfig(authConfig(set, { claimHeaders: { sub: "x-user-id" }, scopes: [] }, { jwks: { cooldownSec: 3600 } }));
  expect((await call(await signer.sign())).response.status).toBe(200);
});

describe("JWT rejection", () => {
  it("asks for credentials, without an error code, when none are sent", async () => {
    const response = await gateway("/secure/x");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="edgegate"');
  });

  it("refuses alg none, signed or not", async () => {
    const payload = encode({ iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now() + 600 });
    await expectInvalidToken(`${encode({ alg: "none" })}.${payload}.`, /malformed/);
    await expectInvalidToken(`${encode({ alg: "none", kid: signer.kid })}.${payload}.c2ln`, /algorithm/);
  });

  it("refuses HS256 signed with the provider's public key (algorithm confusion)", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(signer.publicJwk));
    const forged = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now() + 600 })
      .setProtectedHeader({ alg: "HS256", kid: signer.kid })
      .sign(secret);
    await expectInvalidToken(forged, /algorithm/);
  });

  it("refuses a valid signature in an algorithm outside the allowlist", async () => {
    const es384 = await newSigner("ES256");
    const { privateKey } = await generateKeyPair("ES384");
    const token = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })
      .setProtectedHeader({ alg: "ES384", kid: es384.kid })
      .sign(privateKey);
    await expectInvalidToken(token, /algorithm/);
  });

  it("treats a kid with path characters as an unknown key and nothing more", async () => {
    const before = await jwksHits(set);
    for (const kid of ["../../etc/passwd", "/sets/other", "%2e%2e%2f", "kid\u0000x"]) {
      await expectInvalidToken(await signer.sign({}, { kid }), /signing key/);
    }
    // The cooldown (an hour here) allows no refetch: unknown kids cost no identity-provider call.
    expect(await jwksHits(set)).toBe(before);
  });

  it("ignores jku, x5u and embedded jwk headers: the attacker's server gets no hit", async () => {
    const { privateKey, publicKey } = await generateKeyPair("RS256");
    const attackerJwk = await exportJWK(publicKey);
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now() + 600 };
    const sign = (header: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: "RS256", ...header } as { alg: string }).sign(privateKey);
    await expectInvalidToken(await sign({ kid: "attacker", jku: `${identityProvider}/attacker/jwks.json` }));
    await expectInvalidToken(await sign({ kid: "attacker", x5u: `${identityProvider}/attacker/cert.pem` }));
    await expectInvalidToken(await sign({ jwk: attackerJwk }));
    // The real kid with the attacker's key and an embedded jwk: the signature does not verify.
    await expectInvalidToken(await sign({ kid: signer.kid, jwk: attackerJwk }), /signature/);
    expect(await jwksHits("attacker")).toBe(0);
  });

  it("refuses an unknown critical header", async () => {
    const crit = "urn:example:must-understand";
    // The signer is told it understands the extension; the gateway does not.
    await expectInvalidToken(await signer.sign({}, { crit: [crit], [crit]: true }, { crit: { [crit]: true } }), /not support/);
  });

  it("requires exp, and refuses an expired token beyond the tolerance", async () => {
    await expectInvalidToken(await signer.sign({ exp: undefined }), /no expiry/);
    await expectInvalidToken(await signer.sign({ exp: now() - 120 }), /expired/);
    expect((await call(await signer.sign({ exp: now() - 5 }))).response.status).toBe(200); // inside 30 s tolerance
  });

  it("never serves a cached verification past the token's exp", async () => {
    await applyConfig(authConfig(set, {}, { clockToleranceSec: 0, jwks: { cooldownSec: 3600 } }));
    const token = await signer.sign({ exp: now() + 2 });
    expect((await call(token)).response.status).toBe(200);
    expect((await call(token)).response.status).toBe(200); // from the verified-token cache
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await expectInvalidToken(token, /expired/);
    await applyConfig(authConfig(set, { claimHeaders: { sub: "x-user-id" } }, { jwks: { cooldownSec: 3600 } }));
  });

  it("honours nbf with the clock tolerance: just inside passes, just outside fails", async () => {
    expect((await call(await signer.sign({ nbf: now() + 20 }))).response.status).toBe(200);
    await expectInvalidToken(await signer.sign({ nbf: now() + 45 }), /not valid yet/);
  });

  it("refuses a wrong audience or issuer", async () => {
    await expectInvalidToken(await signer.sign({ aud: "https://other.example.com" }), /audience/);
    await expectInvalidToken(await signer.sign({ iss: "https://evil.example.com/" }), /issuer/);
  });

  it("refuses a signature made by another key under the right kid", async () => {
    const impostor = await newSigner("RS256", signer.kid);
    await expectInvalidToken(await impostor.sign(), /signature/);
  });

  it("rejects junk cheaply: oversize, wrong segment count, not base64url", async () => {
    const before = await jwksHits(set);
    await expectInvalidToken(`${"a".repeat(64 * 1024)}.b.c`, /too large/);
    await expectInvalidToken("only.two", /malformed/);
    await expectInvalidToken("a.b.c.d.e", /malformed/);
    await expectInvalidToken("ey$$.ey!!.sig", /malformed/);
    await expectInvalidToken(`${encode({ alg: "RS256", kid: signer.kid })}.%%%.abc`, /malformed/);
    await expectInvalidToken("eyJub3QganNvbg.eyJ9.c2ln", /malformed/);
    expect(await jwksHits(set)).toBe(before);
  });

  it("strips a forged identity header even when the token is valid", async () => {
    const { response } = await call(await signer.sign({ sub: "alice" }), { headers: { "x-user-id": "admin" } });
    expect(response.status).toBe(200);
    const headers = ((await response.json()) as { headers: Record<string, string> }).headers;
    expect(headers["x-user-id"]).toBe("alice");
  });

  it("never lets a forged identity header through on a token without the claim", async () => {
    const { response } = await call(await signer.sign({ sub: undefined }), { headers: { "x-user-id": "admin" } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { headers: Record<string, string> }).headers["x-user-id"]).toBeUndefined();
  });
});

describe("scopes and token sources", () => {
  it("answers 403 insufficient_scope when a scope is missing, without calling the origin", async () => {
    await applyConfig(authConfig(set, { scopes: ["orders:write"] }, { jwks: { cooldownSec: 3600 } }));
    const { response, originHits } = await call(await signer.sign({ scope: "orders:read" }));
    expect(response.status).toBe(403);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="edgegate", error="insufficient_scope", scope="orders:write"');
    expect(((await response.json()) as { type: string }).type).toBe("urn:edgegate:problem:forbidden");
    expect(await originHits()).toBe(0);
  });

  it("never reads the query string unless the route opts in", async () => {
    await applyConfig(authConfig(set, {}, { jwks: { cooldownSec: 3600 } }));
    const response = await gateway(`/secure/x?access_token=${await signer.sign()}`);
    expect(response.status).toBe(401);
  });

  it("refuses a token from another provider's route config after a publish changes the audience", async () => {
    const token = await signer.sign();
    expect((await call(token)).response.status).toBe(200); // now in the verified-token cache
    await applyConfig(authConfig(set, {}, { audience: "https://other-api.example.com", jwks: { cooldownSec: 3600 } }));
    expect((await call(token)).response.status).toBe(401);
  });
});
