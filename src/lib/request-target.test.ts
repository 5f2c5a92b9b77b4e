import { describe, expect, it } from "vitest";
import { requestTargetProblem as check, isAuthority, urlAuthority } from "./request-target.ts";

const requestTargetProblem = (url: string, host: string | null) => check(url, urlAuthority(url), host);

describe("isAuthority", () => {
  it.each([
    "gateway.test",
    "api.example.com",
    "a",
    "A-B.example",
    "x_y.internal",
    "127.0.0.1",
    "[::1]",
    "[2001:db8::1]",
    "a:1",
    "a:65535",
    "[::1]:8443",
  ])("accepts %s", (text) => expect(isAuthority(text)).toBe(true));

  it.each([
    ["empty", ""],
    ["two Host fields joined", "a.example, b.example"],
    ["a space", "a example"],
    ["a tab", "a\texample"],
    ["a slash", "a.example/admin"],
    ["a backslash", "a.example\\admin"],
    ["user info", "user@a.example"],
    ["a query", "a.example?x"],
    ["a fragment", "a.example#x"],
    ["a percent-escape", "a%2eexample"],
    ["a sub-delimiter", "a;b"],
    ["an empty port", "a:"],
    ["a port over 65535", "a:65536"],
    ["a six-digit port", "a:000080"],
    ["a signed port", "a:+80"],
    ["two ports", "a:80:81"],
    ["an unclosed IPv6 literal", "[::1"],
    ["an empty IPv6 literal", "[]"],
    ["a zone in an IPv6 literal", "[fe80::1%eth0]"],
    ["non-ASCII", "exämple.com"],
    ["NUL", "a\u0000b"],
  ])("refuses %s", (_name, text) => expect(isAuthority(text)).toBe(false));
});

describe("urlAuthority", () => {
  it("is what stands between '//' and the path, query or fragment", () => {
    expect(urlAuthority("http://a.example:8080/x?y")).toBe("a.example:8080");
    expect(urlAuthority("http://a.example?y")).toBe("a.example");
    expect(urlAuthority("http://a.example#y")).toBe("a.example");
    expect(urlAuthority("http://a*")).toBe("a*");
    expect(urlAuthority("https://[::1]:8443/")).toBe("[::1]:8443");
  });
});

describe("requestTargetProblem", () => {
  it("accepts origin-form targets whose URL authority is the Host", () => {
    expect(requestTargetProblem("http://gateway.test/users/1?x=1", "gateway.test")).toBeNull();
    expect(requestTargetProblem("https://Gateway.Test:8443/", "gateway.test:8443")).toBeNull();
    expect(requestTargetProblem("http://gateway.test/", null)).toBeNull();
  });

  it("finds asterisk-form (the runtime appends '*' to the authority)", () => {
    expect(requestTargetProblem("http://gateway.test*", "gateway.test")).toBe("not-origin-form");
  });

  it("refuses a Host the runtime spliced into the URL", () => {
    expect(requestTargetProblem("http://a.example/admin/x", "a.example/admin")).toBe("invalid-host");
    expect(requestTargetProblem("http://a.example, b.example/x", "a.example, b.example")).toBe("invalid-host");
    expect(requestTargetProblem("http://user@a.example/x", "user@a.example")).toBe("invalid-host");
    expect(requestTargetProblem("http://a.example?b/x", "a.example?b")).toBe("invalid-host");
    expect(requestTargetProblem("http://a b/x", "a b")).toBe("invalid-host");
    expect(requestTargetProblem("http://a b/x", null)).toBe("invalid-host");
  });

  it("refuses a URL without a path after its authority", () => {
    expect(requestTargetProblem("http://gateway.test?x=1", null)).toBe("not-origin-form");
  });
});
