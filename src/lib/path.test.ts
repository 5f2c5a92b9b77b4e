import { describe, expect, it } from "vitest";
import { normalizePath, routePathProblem } from "./path.ts";

describe("normalizePath", () => {
  it.each([
    ["/", "/"],
    ["/users/42", "/users/42"],
    ["/a//b///c", "/a/b/c"],
    ["/a/./b/../c", "/a/c"],
    ["/a/b/..", "/a/"],
    ["/../../etc", "/etc"],
    ["/%7Euser/%41%62%2d%5F", "/~user/Ab-_"],
    ["/caf%c3%a9", "/caf%C3%A9"],
    ["/a%20b", "/a%20b"],
    ["/%2e%2e/secret", "/secret"],
    ["/api/%2E%2E/%2e/admin", "/admin"],
    ["//double//lead", "/double/lead"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizePath(input)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ["/a%2Fb", "encoded-slash"],
    ["/a%2fb", "encoded-slash"],
    ["/a%5Cb", "encoded-slash"],
    ["/a%5cb", "encoded-slash"],
    ["/a%zz", "invalid-escape"],
    ["/a%4", "invalid-escape"],
    ["/a%", "invalid-escape"],
    ["/a%00b", "nul-byte"],
  ])("rejects %s (%s)", (input, reason) => {
    expect(normalizePath(input)).toEqual({ ok: false, reason });
  });

  it("returns the same string when there is nothing to normalize", () => {
    const path = "/api/v1/users/42";
    const result = normalizePath(path);
    expect(result.ok && result.path).toBe(path);
  });
});

describe("routePathProblem", () => {
  it.each(["/", "/*", "/users/:id", "/api/*", "/a/:x/b/:y", "/v1/items/", "/caf%C3%A9"])("accepts %s", (pattern) => {
    expect(routePathProblem(pattern)).toBeUndefined();
  });

  it.each([
    ["users", "must start with '/'"],
    ["/a//b", "empty segments"],
    ["/a/../b", "'.' or '..'"],
    ["/a/*/b", "'*' is only allowed"],
    ["/files/*.png", "'*' is only allowed"],
    ["/u/:1d", "parameter"],
    ["/u/:id/:id", "appears twice"],
    ["/a b", "percent-encoded"],
    ["/%7euser", "normalized form"],
  ])("refuses %s", (pattern, reason) => {
    expect(routePathProblem(pattern)).toContain(reason);
  });
});
