import { describe, expect, it } from "vitest";
import { credentialDigest, credentialHeaders, credentialMaterial, requestKey } from "./key.ts";
import { varyValues } from "./response.ts";

const h = (init: Record<string, string>) => new Headers(init);
/** The key of a request whose upstream headers are `headers`, on a route varying on `vary`. */
const key = (
  method: string,
  host: string,
  path: string,
  headers: Headers,
  vary: string[],
  identity: Array<[string, string]> | null = null,
) => requestKey(method, host, path, varyValues(vary, headers), identity);

describe("requestKey", () => {
  it("tells apart method, host, path and query", () => {
    const base = key("GET", "a.test", "/x?q=1", h({}), []);
    expect(key("HEAD", "a.test", "/x?q=1", h({}), [])).not.toBe(base);
    expect(key("GET", "b.test", "/x?q=1", h({}), [])).not.toBe(base);
    expect(key("GET", "a.test", "/x?q=2", h({}), [])).not.toBe(base);
    expect(key("GET", "a.test", "/x?q=1", h({ accept: "text/html" }), [])).toBe(base);
  });

  it("includes the declared varying headers, and tells an empty value from an absent one", () => {
    const vary = ["accept-language"];
    const de = key("GET", "a.test", "/", h({ "accept-language": "de" }), vary);
    expect(key("GET", "a.test", "/", h({ "accept-language": "de" }), vary)).toBe(de);
    expect(key("GET", "a.test", "/", h({ "accept-language": "fr" }), vary)).not.toBe(de);
    expect(key("GET", "a.test", "/", h({ "accept-language": "" }), vary)).not.toBe(key("GET", "a.test", "/", h({}), vary));
  });

  it("reads a varying header in every spelling an origin folds onto it", () => {
    const vary = ["x-variant"];
    const plain = key("GET", "a.test", "/", h({}), vary);
    expect(key("GET", "a.test", "/", h({ x_variant: "b" }), vary)).not.toBe(plain);
    expect(key("GET", "a.test", "/", h({ x_variant: "b" }), ["X_Variant".toLowerCase()])).not.toBe(plain);
  });

  it("keeps callers apart by the claim headers the gateway forwards", () => {
    const alice = key("GET", "a.test", "/", h({}), [], [["x-user-id", "alice"]]);
    expect(key("GET", "a.test", "/", h({}), [], [["x-user-id", "alice"]])).toBe(alice);
    expect(key("GET", "a.test", "/", h({}), [], [["x-user-id", "bob"]])).not.toBe(alice);
    expect(key("GET", "a.test", "/", h({}), [], null)).not.toBe(alice);
    expect(key("GET", "a.test", "/", h({}), [], [["x-tenant", "alice"]])).not.toBe(alice);
  });

  it("cannot be forged by moving text between parts", () => {
    expect(key("GET", "a.test", "/x", h({ v: "1" }), ["v"])).not.toBe(key("GET", "a.test", "/x1", h({}), ["v"]));
    expect(key("GET", "a.test", "/x", h({}), ["v"], [["a", "b"]])).not.toBe(key("GET", "a.test", "/x", h({ v: "a" }), ["v"], null));
  });
});

describe("credentials", () => {
  it("counts Authorization, Cookie, X-Api-Key and the route's own credential headers", () => {
    expect(credentialHeaders(["x-token"])).toEqual(["authorization", "cookie", "x-api-key", "x-token"]);
    expect(credentialHeaders(["authorization"])).toEqual(["authorization", "cookie", "x-api-key"]);
  });

  it("is null without a credential and differs between credentials", async () => {
    const names = credentialHeaders([]);
    expect(credentialMaterial(h({ accept: "*/*" }), names)).toBeNull();
    const alice = credentialMaterial(h({ authorization: "Bearer alice" }), names) as string;
    const bob = credentialMaterial(h({ authorization: "Bearer bob" }), names) as string;
    const cookie = credentialMaterial(h({ cookie: "Bearer alice" }), names) as string;
    expect(new Set([alice, bob, cookie]).size).toBe(3);
    const digest = await credentialDigest(alice);
    expect(digest).toMatch(/^[0-9a-f]{32}$/);
    expect(digest).toBe(await credentialDigest(alice));
    expect(digest).not.toBe(await credentialDigest(bob));
    expect(digest).not.toContain("alice");
  });

  it("counts a credential in every spelling an origin may read it under", () => {
    const names = credentialHeaders(["x_access_token"]);
    expect(names).toContain("x-access-token");
    expect(credentialMaterial(h({ x_api_key: "k1" }), names)).not.toBeNull();
    expect(credentialMaterial(h({ X_Access_Token: "t" }), names)).not.toBeNull();
    expect(credentialMaterial(h({ x_api_key: "k1" }), names)).not.toBe(credentialMaterial(h({ x_api_key: "k2" }), names));
    expect(credentialMaterial(h({ x_custom: "k1" }), names)).toBeNull();
  });
});
