import { describe, expect, it } from "vitest";
import { keyFitsAlgorithm, parseJwks } from "./document.ts";

const rsa = { kty: "RSA", kid: "r1", n: "AQAB-n", e: "AQAB", alg: "RS256", use: "sig" };
const ec = { kty: "EC", kid: "e1", crv: "P-256", x: "xx", y: "yy" };
const ed = { kty: "OKP", kid: "o1", crv: "Ed25519", x: "xx" };

describe("parseJwks", () => {
  it("accepts public signing keys and keeps only the members it reads", () => {
    const result = parseJwks(JSON.stringify({ keys: [{ ...rsa, x5c: ["..."] }, ec, ed] }));
    expect(result).toEqual({ ok: true, keys: [{ kty: "RSA", kid: "r1", alg: "RS256", n: "AQAB-n", e: "AQAB" }, ec, ed] });
  });

  it("skips encryption keys and key types it cannot use", () => {
    const result = parseJwks(JSON.stringify({ keys: [{ ...rsa, use: "enc" }, { kty: "XYZ", kid: "z" }, { kty: "EC", kid: "half" }, ec] }));
    expect(result.ok && result.keys.map((k) => k.kid)).toEqual(["e1"]);
  });

  it.each([
    ["private RSA material", { keys: [{ ...rsa, d: "secret" }] }],
    ["private EC material", { keys: [{ ...ec, d: "secret" }] }],
    ["a symmetric key", { keys: [{ kty: "oct", kid: "h", k: "c2VjcmV0" }] }],
  ])("refuses the whole document when it holds %s", (_, document) => {
    expect(parseJwks(JSON.stringify({ keys: [ec, ...document.keys] }))).toEqual({
      ok: false,
      reason: "contains private or symmetric key material",
    });
  });

  it("refuses duplicate kids", () => {
    expect(parseJwks(JSON.stringify({ keys: [ec, { ...ed, kid: "e1" }] }))).toEqual({ ok: false, reason: "duplicate kid" });
  });

  it.each([
    ["<html>down</html>", "not JSON"],
    ["null", "no keys array"],
    ['{"keys":{}}', "no keys array"],
    ['{"keys":[1]}', "a key is not an object"],
    [JSON.stringify({ keys: [{ ...ec, kid: "x".repeat(300) }] }), "a kid is not a short string"],
    [" ".repeat(300_000), "document too large"],
  ])("refuses garbage: %s", (text, reason) => {
    expect(parseJwks(text)).toEqual({ ok: false, reason });
  });
});

describe("keyFitsAlgorithm", () => {
  it("matches key type, curve and a declared alg", () => {
    expect(keyFitsAlgorithm({ kty: "RSA", n: "n", e: "e" }, "PS256")).toBe(true);
    expect(keyFitsAlgorithm({ kty: "RSA", n: "n", e: "e", alg: "RS256" }, "PS256")).toBe(false);
    expect(keyFitsAlgorithm({ kty: "EC", crv: "P-256", x: "x", y: "y" }, "ES256")).toBe(true);
    expect(keyFitsAlgorithm({ kty: "EC", crv: "P-384", x: "x", y: "y" }, "ES256")).toBe(false);
    expect(keyFitsAlgorithm({ kty: "OKP", crv: "Ed25519", x: "x", alg: "EdDSA" }, "Ed25519")).toBe(true);
    expect(keyFitsAlgorithm({ kty: "RSA", n: "n", e: "e" }, "HS256")).toBe(false);
  });
});
