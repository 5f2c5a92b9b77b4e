import { describe, expect, it } from "vitest";
import { authConfig, echoedHeaders, jwksHits, newSigner, publishKeys } from "../auth-support.ts";
import { applyConfig, gateway } from "../support.ts";

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("JWT authentication", () => {
  it.each(["RS256", "ES256", "EdDSA"] as const)("accepts a valid %s token and forwards the request", async (alg) => {
    const set = `happy-${alg}-${crypto.randomUUID()}`;
    const signer = await newSigner(alg);
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(authConfig(set));
    const response = await gateway("/secure/x", bearer(await signer.sign()));
    expect(response.status).toBe(200);
    const headers = await echoedHeaders(response);
    // The credential stops at the gateway unless the route forwards it.
    expect(headers.authorization).toBeUndefined();
  });

  it("verifies a repeated token once: the verified-token cache answers, the JWKS is fetched once", async () => {
    const set = `cache-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(authConfig(set));
    const token = await signer.sign();
    for (let i = 0; i < 20; i++) expect((await gateway("/secure/x", bearer(token))).status).toBe(200);
    expect(await jwksHits(set)).toBe(1);
  });

  it("forwards mapped claims as headers, and the Authorization header when the route says so", async () => {
    const set = `claims-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(
      authConfig(set, {
        claimHeaders: { sub: "x-user-id", tenant: "x-tenant", roles: "x-roles", nested: "x-nested" },
        forwardCredentials: true,
      }),
    );
    const token = await signer.sign({ sub: "alice", tenant: 42, roles: ["admin", "ops"], nested: { a: 1 } });
    const response = await gateway("/secure/x", bearer(token));
    expect(response.status).toBe(200);
    const headers = await echoedHeaders(response);
    expect(headers["x-user-id"]).toBe("alice");
    expect(headers["x-tenant"]).toBe("42");
    expect(headers["x-roles"]).toBe("admin, ops");
    expect(headers["x-nested"]).toBeUndefined();
    expect(headers.authorization).toBe(`Bearer ${token}`);
  });

  it("passes when the token holds every required scope, as a scope string or an scp array", async () => {
    const set = `scopes-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(authConfig(set, { scopes: ["orders:read", "orders:write"] }));
    expect((await gateway("/secure/x", bearer(await signer.sign({ scope: "orders:read orders:write profile" })))).status).toBe(200);
    expect((await gateway("/secure/x", bearer(await signer.sign({ scp: ["orders:write", "orders:read"] })))).status).toBe(200);
  });

  it("takes the token from a configured header, cookie or query parameter, and keeps it from the upstream", async () => {
    const set = `sources-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    const token = await signer.sign();

    await applyConfig(authConfig(set, { token: { header: "x-access-token" } }));
    const byHeader = await gateway("/secure/x", { headers: { "x-access-token": token } });
    expect(byHeader.status).toBe(200);
    expect((await echoedHeaders(byHeader))["x-access-token"]).toBeUndefined();

    await applyConfig(authConfig(set, { token: { cookie: "session" } }));
    const byCookie = await gateway("/secure/x", { headers: { cookie: `theme=dark; session=${token}` } });
    expect(byCookie.status).toBe(200);
    expect((await echoedHeaders(byCookie)).cookie).toBe("theme=dark");

    await applyConfig(authConfig(set, { token: { query: "access_token" } }));
    const byQuery = await gateway(`/secure/x?a=1&access_token=${token}`);
    expect(byQuery.status).toBe(200);
    expect(((await byQuery.json()) as { url: string }).url).toBe("/echo?a=1");
  });

  it("leaves routes without auth open", async () => {
    const set = `open-${crypto.randomUUID()}`;
    await publishKeys(set, []);
    await applyConfig(authConfig(set));
    expect((await gateway("/open/x")).status).toBe(200);
    expect(await jwksHits(set)).toBe(0);
  });
});
