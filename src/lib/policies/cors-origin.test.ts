import { describe, expect, it } from "vitest";
import { originAllowed, originMatcher, parseOriginRule } from "./cors-origin.ts";

function problemOf(raw: string): string {
  const rule = parseOriginRule(raw);
  if (!("problem" in rule)) throw new Error(`expected '${raw}' to be refused`);
  return rule.problem;
}

describe("cors origins: what a config may list", () => {
  it("brings an exact origin to the form browsers send: lower-case, no default port, punycode", () => {
    expect(parseOriginRule("https://app.example.com")).toEqual({ kind: "exact", origin: "https://app.example.com" });
    expect(parseOriginRule("HTTPS://App.Example.COM:443")).toEqual({ kind: "exact", origin: "https://app.example.com" });
    expect(parseOriginRule("http://localhost:80")).toEqual({ kind: "exact", origin: "http://localhost" });
    expect(parseOriginRule("http://localhost:3000")).toEqual({ kind: "exact", origin: "http://localhost:3000" });
    expect(parseOriginRule("https://bücher.example")).toEqual({ kind: "exact", origin: "https://xn--bcher-kva.example" });
    expect(parseOriginRule("http://[::1]:8080")).toEqual({ kind: "exact", origin: "http://[::1]:8080" });
    expect(parseOriginRule("http://127.0.0.1:5173")).toEqual({ kind: "exact", origin: "http://127.0.0.1:5173" });
  });

  it("takes '*' and subdomain patterns, with their scheme and port", () => {
    expect(parseOriginRule("*")).toEqual({ kind: "any" });
    expect(parseOriginRule("https://*.example.com")).toEqual({ kind: "subdomains", scheme: "https", suffix: ".example.com", port: "" });
    expect(parseOriginRule("https://*.Example.com:443")).toEqual({ kind: "subdomains", scheme: "https", suffix: ".example.com", port: "" });
    expect(parseOriginRule("http://*.example.com:8080")).toEqual({
      kind: "subdomains",
      scheme: "http",
      suffix: ".example.com",
      port: "8080",
    });
  });

  it("refuses a path, even a lone '/', and says how to write the origin", () => {
    expect(problemOf("https://app.example.com/")).toBe(
      "has a path, query or fragment, which an origin never has: write https://app.example.com",
    );
    expect(problemOf("https://app.example.com/app")).toContain("write https://app.example.com");
    expect(problemOf("https://app.example.com?x=1")).toContain("write https://app.example.com");
    expect(problemOf("https://app.example.com#top")).toContain("write https://app.example.com");
    expect(problemOf("https://*.example.com/")).toContain("write https://*.example.com");
  });

  it("refuses what is not an http(s) origin", () => {
    expect(problemOf("app.example.com")).toContain("must be an origin");
    expect(problemOf("//app.example.com")).toContain("must be an origin");
    expect(problemOf("ftp://files.example.com")).toBe("must use http or https");
    expect(problemOf("https://user:pass@app.example.com")).toContain("must not contain credentials");
    expect(problemOf("https://app.example.com:99999")).toContain("is not a valid origin");
    expect(problemOf("https://")).toContain("origin");
    expect(problemOf("")).toContain("must be an origin");
  });

  it("refuses 'null', which any page can send", () => {
    expect(problemOf("null")).toContain("any page can send it");
    expect(problemOf("NULL")).toContain("any page can send it");
  });

  it("refuses a '*' anywhere but the leading labels, and patterns over a top-level domain or an address", () => {
    expect(problemOf("https://app.*.example.com")).toContain("only for the leading labels");
    expect(problemOf("https://*example.com")).toContain("only for the leading labels");
    expect(problemOf("https://*.*.example.com")).toContain("one '*'");
    expect(problemOf("*.example.com")).toContain("must be an origin");
    expect(problemOf("https://*")).toContain("only for the leading labels");
    expect(problemOf("https://*.com")).toContain("every site under 'com'");
    expect(problemOf("https://*.10.0.0.1")).toContain("not an IP address");
    expect(problemOf("https://*.[::1]")).toContain("not an IP address");
  });
});

describe("cors origins: matching a request's Origin", () => {
  const matcher = originMatcher(["https://app.example.com", "https://*.example.com", "http://*.dev.example.net:8080"]);

  it("matches exact origins byte for byte, as browsers serialize them", () => {
    expect(originAllowed(matcher, "https://app.example.com")).toBe(true);
    // A browser never sends these spellings; a client that does is not a browser to protect.
    expect(originAllowed(originMatcher(["https://app.example.org"]), "https://APP.example.org")).toBe(false);
    expect(originAllowed(originMatcher(["https://app.example.org"]), "https://app.example.org:443")).toBe(false);
    expect(originAllowed(originMatcher(["https://app.example.org"]), "https://app.example.org/")).toBe(false);
  });

  it("matches subdomains of one label or more, never the bare parent", () => {
    expect(originAllowed(matcher, "https://api.example.com")).toBe(true);
    expect(originAllowed(matcher, "https://a.b.example.com")).toBe(true);
    expect(originAllowed(matcher, "https://my_app.example.com")).toBe(true);
    expect(originAllowed(matcher, "https://example.com")).toBe(false);
    expect(originAllowed(originMatcher(["https://*.example.com", "https://example.com"]), "https://example.com")).toBe(true);
  });

  it("does not match look-alikes, other schemes or other ports", () => {
    for (const origin of [
      "https://evil-example.com",
      "https://evilexample.com",
      "https://example.com.evil.com",
      "https://app.example.com.evil.com",
      "https://.example.com",
      "https://a..example.com",
      "https://-a.example.com",
      "https://evil.com/.example.com",
      "https://evil.com?.example.com",
      "https://evil.com#.example.com",
      "https://user@app.example.com",
      "https://evil.com\n.example.com",
      "https://evil.com%2F.example.com",
      "http://app.example.com",
      "https://app.example.com:8443",
      "https://app.example.com.",
      "null",
      "",
      "https://app.example.com, https://evil.com",
    ]) {
      expect(originAllowed(matcher, origin), origin).toBe(false);
    }
  });

  it("holds a pattern to its port, and its port to its pattern", () => {
    expect(originAllowed(matcher, "http://a.dev.example.net:8080")).toBe(true);
    expect(originAllowed(matcher, "http://a.dev.example.net")).toBe(false);
    expect(originAllowed(matcher, "http://a.dev.example.net:80800")).toBe(false);
    expect(originAllowed(matcher, "http://a.dev.example.net:18080")).toBe(false);
    expect(originAllowed(matcher, "http://dev.example.net:8080")).toBe(false);
  });

  it("'*' matches any origin, 'null' included", () => {
    const any = originMatcher(["*"]);
    expect(originAllowed(any, "https://anything.example")).toBe(true);
    expect(originAllowed(any, "null")).toBe(true);
  });
});
