import { describe, expect, it } from "vitest";
import { claimHeaderValue, cookieValue, findToken, grantedScopes, withoutCookie, withoutQueryParam } from "./credentials.ts";

const url = "https://api.example.com/v1/x?a=1&access_token=tok3&b=2";

describe("findToken", () => {
  it("takes a Bearer token from Authorization, scheme in any case", () => {
    expect(findToken({ kind: "authorization" }, new Headers({ authorization: "bearer abc.def.ghi" }), url)).toEqual({
      kind: "token",
      token: "abc.def.ghi",
    });
  });

  it.each(["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearerabc", ""])("finds no token in Authorization: %j", (value) => {
    expect(findToken({ kind: "authorization" }, new Headers({ authorization: value }), url)).toEqual({ kind: "none" });
  });

  it("reads a named header, with or without the Bearer scheme", () => {
    const source = { kind: "header", name: "x-token" } as const;
    expect(findToken(source, new Headers({ "x-token": "tok1" }), url)).toEqual({ kind: "token", token: "tok1" });
    expect(findToken(source, new Headers({ "x-token": "Bearer tok1" }), url)).toEqual({ kind: "token", token: "tok1" });
  });

  it("reads a cookie, and the query string only when that is the source", () => {
    const headers = new Headers({ cookie: "a=1; session=tok2; b=2" });
    expect(findToken({ kind: "cookie", name: "session" }, headers, url)).toEqual({ kind: "token", token: "tok2" });
    expect(findToken({ kind: "query", name: "access_token" }, headers, url)).toEqual({ kind: "token", token: "tok3" });
    expect(findToken({ kind: "authorization" }, headers, url)).toEqual({ kind: "none" });
  });
});

describe("credential stripping", () => {
  it("removes one cookie and keeps the others", () => {
    expect(withoutCookie("a=1; session=tok; b=2", "session")).toBe("a=1; b=2");
    expect(withoutCookie("session=tok", "session")).toBe("");
    expect(cookieValue("a=1", "session")).toBeUndefined();
  });

  it("removes one query parameter, however it is spelled, and leaves the rest as sent", () => {
    expect(withoutQueryParam("?a=1&access_token=t&b=%2F", "access_token")).toBe("?a=1&b=%2F");
    expect(withoutQueryParam("?access%5Ftoken=t", "access_token")).toBe("");
    expect(withoutQueryParam("?access_token=t&access_token=u&c", "access_token")).toBe("?c");
    expect(withoutQueryParam("", "access_token")).toBe("");
  });
});

describe("claimHeaderValue", () => {
  it("renders strings, numbers, booleans and flat arrays", () => {
    expect(claimHeaderValue("user-1")).toBe("user-1");
    expect(claimHeaderValue(42)).toBe("42");
    expect(claimHeaderValue(true)).toBe("true");
    expect(claimHeaderValue(["a", "b"])).toBe("a, b");
  });

  it("leaves out what would be mangled or could split a header", () => {
    expect(claimHeaderValue({ a: 1 })).toBeUndefined();
    expect(claimHeaderValue("line\r\nx-admin: true")).toBeUndefined();
    expect(claimHeaderValue("Jürgen")).toBeUndefined();
    expect(claimHeaderValue("x".repeat(5_000))).toBeUndefined();
    expect(claimHeaderValue(null)).toBeUndefined();
  });

  it("leaves out what the runtime would trim, and what is empty", () => {
    for (const value of [" alice", "alice ", " alice ", "alice\t", "\talice", " ", "\t", ""]) {
      expect(claimHeaderValue(value), JSON.stringify(value)).toBeUndefined();
    }
    expect(claimHeaderValue("Alice B.\tSmith")).toBe("Alice B.\tSmith");
  });

  it("leaves out every control character, DEL and anything outside ASCII", () => {
    for (let code = 0; code < 0x20; code++) {
      if (code !== 0x09) expect(claimHeaderValue(`a${String.fromCharCode(code)}b`), `U+${code.toString(16)}`).toBeUndefined();
    }
    for (const value of ["a\u007fb", "a\u0080b", "a\u00a0b", "a\u2028b", "a\ud800b", "a\u{1f600}b"]) {
      expect(claimHeaderValue(value), JSON.stringify(value)).toBeUndefined();
    }
  });

  it("forwards 4096 bytes and not one more", () => {
    expect(claimHeaderValue("a".repeat(4_096))).toHaveLength(4_096);
    expect(claimHeaderValue("a".repeat(4_097))).toBeUndefined();
    expect(claimHeaderValue(Array.from({ length: 1_366 }, () => "ab"))).toBeUndefined();
  });

  it("renders numbers only where the text is the issuer's number", () => {
    expect(claimHeaderValue(-1.5)).toBe("-1.5");
    expect(claimHeaderValue(2 ** 53 - 1)).toBe("9007199254740991");
    expect(claimHeaderValue(2 ** 53 + 2)).toBeUndefined();
    expect(claimHeaderValue(Number.NaN)).toBeUndefined();
    expect(claimHeaderValue(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it("leaves out a list that would not read back as its elements", () => {
    expect(claimHeaderValue([])).toBeUndefined();
    expect(claimHeaderValue(["a", ""])).toBeUndefined();
    expect(claimHeaderValue(["a", " b"])).toBeUndefined();
    expect(claimHeaderValue(["viewer, admin"])).toBeUndefined();
    expect(claimHeaderValue(['a"b'])).toBeUndefined();
    expect(claimHeaderValue([["a"]])).toBeUndefined();
    expect(claimHeaderValue(["a", null])).toBeUndefined();
    expect(claimHeaderValue(["a b", 1, true])).toBe("a b, 1, true");
  });
});

describe("grantedScopes", () => {
  it("unions a space-separated scope and an scp array", () => {
    expect(grantedScopes({ scope: "read  write", scp: ["admin", 3] })).toEqual(new Set(["read", "write", "admin"]));
    expect(grantedScopes({ scp: "read" })).toEqual(new Set(["read"]));
    expect(grantedScopes({})).toEqual(new Set());
  });
});
