import { describe, expect, it } from "vitest";
import { isReservedPath, normalizePath, routePathProblem } from "./path.ts";

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
    // Parameters on ordinary segments, and dots inside a segment, are the upstream's business.
    ["/items;v=2/x", "/items;v=2/x"],
    ["/a/...;x", "/a/...;x"],
    ["/a/b..;/c", "/a/b..;/c"],
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
    // fetch() reads a backslash as "/" and resolves the dot segments around it.
    ["/__gateway\\admin\\config", "backslash"],
    ["/users/1\\..\\..\\orders\\42", "backslash"],
    ["/a\\b", "backslash"],
    ["\\orders", "backslash"],
    // Servlet containers strip path parameters before resolving dot segments.
    ["/api/..;/orders/42", "dot-segment-parameter"],
    ["/api/..;jsessionid=x/orders", "dot-segment-parameter"],
    ["/api/.;/orders", "dot-segment-parameter"],
    ["/api/%2e%2e;/orders", "dot-segment-parameter"],
    ["/api//..;/orders", "dot-segment-parameter"],
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

describe("isReservedPath", () => {
  it.each(["/__gateway", "/__gateway/", "/__gateway/admin/config", "/__gateway/*", "/__GATEWAY/health", "/__Gateway/:x"])(
    "%s is in the gateway's namespace",
    (path) => expect(isReservedPath(path)).toBe(true),
  );

  it.each(["/", "/__gatewayx", "/__gateway.json", "/_gateway", "/x/__gateway", "/:p/*", "/*", "/%5F_gateway"])("%s is not", (path) =>
    expect(isReservedPath(path)).toBe(false),
  );

  it.each([
    "//__gateway/admin/config",
    "/./__gateway",
    "/x/../__gateway/admin",
    "/%5F_gateway/health",
    "/__%67ateway",
    "/x/%2e%2e/__gateway",
  ])("%s is, once normalized as the router normalizes it", (raw) => {
    const normalized = normalizePath(raw);
    expect(normalized.ok && isReservedPath(normalized.path)).toBe(true);
  });
});
