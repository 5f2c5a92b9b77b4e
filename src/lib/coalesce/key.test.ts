import { describe, expect, it } from "vitest";
import { credentialDigest, credentialHeaders, credentialMaterial, requestKey } from "./key.ts";

const h = (init: Record<string, string>) => new Headers(init);

describe("requestKey", () => {
  it("tells apart method, host, path and query", () => {
    const base = requestKey("GET", "a.test", "/x?q=1", h({}), []);
    expect(requestKey("HEAD", "a.test", "/x?q=1", h({}), [])).not.toBe(base);
    expect(requestKey("GET", "b.test", "/x?q=1", h({}), [])).not.toBe(base);
    expect(requestKey("GET", "a.test", "/x?q=2", h({}), [])).not.toBe(base);
    expect(requestKey("GET", "a.test", "/x?q=1", h({ accept: "text/html" }), [])).toBe(base);
  });

  it("includes the declared varying headers, and tells an empty value from an absent one", () => {
    const vary = ["accept-language"];
    const de = requestKey("GET", "a.test", "/", h({ "accept-language": "de" }), vary);
    expect(requestKey("GET", "a.test", "/", h({ "accept-language": "de" }), vary)).toBe(de);
    expect(requestKey("GET", "a.test", "/", h({ "accept-language": "fr" }), vary)).not.toBe(de);
    expect(requestKey("GET", "a.test", "/", h({ "accept-language": "" }), vary)).not.toBe(requestKey("GET", "a.test", "/", h({}), vary));
  });

  it("cannot be forged by moving text between parts", () => {
    expect(requestKey("GET", "a.test", "/x", h({ v: "1" }), ["v"])).not.toBe(requestKey("GET", "a.test", "/x1", h({}), ["v"]));
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
});
