import { describe, expect, it } from "vitest";
import type { Identity } from "../identity.ts";
import { parseKeyPart, rateLimitKey } from "./key.ts";

const identity = (overrides: Partial<Identity> = {}): Identity => ({
  method: "jwt",
  subject: "alice",
  consumer: null,
  scopes: new Set(),
  claims: { sub: "alice", org: "acme", n: 7, nested: { a: 1 } },
  rateLimitKey: "alice",
  ...overrides,
});

const headers = (init: Record<string, string>) => new Headers(init);

describe("rateLimitKey", () => {
  it("keys on the connecting address and never on client-set forwarding headers", () => {
    const parts = [parseKeyPart("ip")];
    const plain = rateLimitKey(parts, headers({ "cf-connecting-ip": "203.0.113.7" }), undefined);
    const spoofed = rateLimitKey(
      parts,
      headers({ "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.1", "x-real-ip": "198.51.100.2" }),
      undefined,
    );
    expect(plain).toBe("ip:203.0.113.7");
    expect(spoofed).toBe(plain);
  });

  it("never lets two different inputs share a key", () => {
    const parts = ["header:x-a", "header:x-b"].map(parseKeyPart);
    const a = rateLimitKey(parts, headers({ "x-a": "a:b", "x-b": "c" }), undefined);
    const b = rateLimitKey(parts, headers({ "x-a": "a", "x-b": "b:c" }), undefined);
    const c = rateLimitKey(parts, headers({ "x-a": "a|header:b", "x-b": "c" }), undefined);
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it("composes identity parts; a missing part falls back to the address, tagged apart from real values", () => {
    const parts = ["subject", "claim:org", "header:x-tenant"].map(parseKeyPart);
    const key = rateLimitKey(parts, headers({ "cf-connecting-ip": "192.0.2.1" }), identity());
    expect(key).toBe("subject:alice|claim:acme|none:192.0.2.1");
    const sent = rateLimitKey(parts, headers({ "cf-connecting-ip": "192.0.2.1", "x-tenant": "192.0.2.1" }), identity());
    expect(sent).not.toBe(key);
    // Numbers count as claim values; objects do not.
    expect(rateLimitKey([parseKeyPart("claim:n")], headers({}), identity())).toBe("claim:7");
    expect(rateLimitKey([parseKeyPart("claim:nested")], headers({}), identity())).toBe("none:unknown");
  });

  it("uses an API key's shared rate-limit key as its consumer", () => {
    const apiKey = identity({ method: "api-key", consumer: "acme-mobile", rateLimitKey: "acme" });
    expect(rateLimitKey([parseKeyPart("consumer")], headers({}), apiKey)).toBe("consumer:acme");
  });

  it("hashes keys too long to store, so clients cannot grow backend keys", async () => {
    const key = await rateLimitKey([parseKeyPart("header:x-big")], headers({ "x-big": "z".repeat(5000) }), undefined);
    expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
