import { describe, expect, it } from "vitest";
import { RouteTable, type RouteTableEntry } from "./route-table.ts";

function entry(payload: string, path: string, extra: Partial<RouteTableEntry<string>> = {}): RouteTableEntry<string> {
  return { path, methods: null, hosts: null, payload, ...extra };
}

describe("RouteTable", () => {
  const table = new RouteTable([
    entry("user-get", "/users/:id", { methods: new Set(["GET"]) }),
    entry("user-put", "/users/:id", { methods: new Set(["PUT", "DELETE"]) }),
    entry("exact", "/health"),
    entry("api", "/api/*"),
    entry("host-a", "/api/*", { hosts: ["a.example.com"] }),
    entry("wild", "/w", { hosts: ["*.example.com"] }),
    entry("deep-wild", "/w", { hosts: ["*.b.example.com"] }),
    entry("fallback", "/*"),
  ]);

  it("matches exact paths, params and wildcard prefixes", () => {
    expect(table.lookup("x.test", "GET", "/health")).toMatchObject({ kind: "matched", payload: "exact" });
    expect(table.lookup("x.test", "GET", "/users/42")).toEqual({ kind: "matched", payload: "user-get", params: { id: "42" } });
    expect(table.lookup("x.test", "GET", "/api")).toMatchObject({ payload: "api" });
    expect(table.lookup("x.test", "POST", "/api/v1/things")).toMatchObject({ payload: "api" });
  });

  it("picks by method in config order, and HEAD follows GET", () => {
    expect(table.lookup("x.test", "PUT", "/users/1")).toMatchObject({ payload: "user-put" });
    expect(table.lookup("x.test", "HEAD", "/users/1")).toMatchObject({ payload: "user-get" });
  });

  it("first match in config order wins for overlapping paths", () => {
    expect(table.lookup("x.test", "GET", "/anything")).toMatchObject({ payload: "fallback" });
  });

  it("prefers an exact host, then the longest wildcard suffix, then any host", () => {
    expect(table.lookup("x.test", "GET", "/api/x")).toMatchObject({ payload: "api" });
    // any-host routes come before host-a in config order, so they win inside a.example.com too
    expect(table.lookup("a.example.com", "GET", "/api/x")).toMatchObject({ payload: "api" });
    expect(table.lookup("c.example.com", "GET", "/w")).toMatchObject({ payload: "wild" });
    expect(table.lookup("z.b.example.com", "GET", "/w")).toMatchObject({ payload: "deep-wild" });
    expect(table.lookup("x.test", "GET", "/w")).toMatchObject({ payload: "fallback" });
  });

  it("says which methods are allowed when only the method is wrong", () => {
    const only = new RouteTable([entry("u", "/users/:id", { methods: new Set(["GET", "PUT"]) })]);
    expect(only.lookup("x", "POST", "/users/1")).toEqual({ kind: "method-not-allowed", allow: ["GET", "HEAD", "PUT"] });
    expect(only.lookup("x", "GET", "/nope")).toEqual({ kind: "not-found" });
  });

  it("keeps a host's own routes separate from other hosts", () => {
    const hosts = new RouteTable([entry("a", "/x", { hosts: ["a.test"] }), entry("b", "/x", { hosts: ["b.test"] })]);
    expect(hosts.lookup("a.test", "GET", "/x")).toMatchObject({ payload: "a" });
    expect(hosts.lookup("b.test", "GET", "/x")).toMatchObject({ payload: "b" });
    expect(hosts.lookup("c.test", "GET", "/x")).toEqual({ kind: "not-found" });
  });

  it("matches the same way with 10,000 routes", () => {
    const many = new RouteTable(Array.from({ length: 10_000 }, (_, i) => entry(`r${i}`, i % 2 ? `/svc${i}/items/:id` : `/static${i}/*`)));
    expect(many.lookup("x", "GET", "/svc9999/items/7")).toEqual({ kind: "matched", payload: "r9999", params: { id: "7" } });
    expect(many.lookup("x", "GET", "/static0/a/b")).toMatchObject({ payload: "r0" });
    expect(many.lookup("x", "GET", "/svc9999/other")).toEqual({ kind: "not-found" });
  });
});
