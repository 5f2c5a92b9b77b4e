import { describe, expect, it } from "vitest";
import { diffConfigs } from "./diff.ts";
import { deleteCluster, deleteRoute, putCluster, putRoute } from "./edit.ts";

const base = {
  clusters: { users: { targets: [{ url: "https://a.example.com" }] }, orders: { targets: [{ url: "https://b.example.com" }] } },
  routes: [
    { id: "users", match: { path: "/users/*" }, cluster: "users" },
    { id: "orders", match: { path: "/orders/*" }, cluster: "orders", timeoutMs: 5000 },
  ],
};

describe("diffConfigs", () => {
  it("finds nothing between equal documents", () => {
    expect(diffConfigs(base, structuredClone(base))).toEqual([]);
  });

  it("names added, removed and changed entries with the fields that differ", () => {
    const after = structuredClone(base) as typeof base & { routes: Array<Record<string, unknown>> };
    (after.routes[1] as Record<string, unknown>).timeoutMs = 2000;
    after.routes.push({ id: "health", match: { path: "/health" }, cluster: "users" });
    delete (after.clusters as Record<string, unknown>).orders;
    (after.clusters.users as { targets: Array<{ url: string; weight?: number }> }).targets[0] = { url: "https://a.example.com", weight: 2 };
    expect(diffConfigs(base, after)).toEqual([
      { kind: "changed", entry: "routes[orders]", fields: ["timeoutMs"] },
      { kind: "added", entry: "routes[health]", fields: [] },
      { kind: "changed", entry: "clusters.users", fields: ["targets[0].weight"] },
      { kind: "removed", entry: "clusters.orders", fields: [] },
    ]);
  });

  it("reports a reordering of routes, which changes matching", () => {
    const after = { ...base, routes: [base.routes[1], base.routes[0]] };
    expect(diffConfigs(base, after)).toEqual([{ kind: "moved", entry: "routes (order)", fields: [] }]);
  });

  it("compares from nothing", () => {
    expect(diffConfigs(null, base).map((c) => `${c.kind} ${c.entry}`)).toEqual([
      "added routes[users]",
      "added routes[orders]",
      "added clusters.users",
      "added clusters.orders",
    ]);
  });
});

describe("config edits", () => {
  it("replaces a route in place, keeping its position, or appends a new one", () => {
    const replaced = putRoute(base, "users", { match: { path: "/people/*" }, cluster: "users" });
    expect(replaced.kind === "edited" && replaced.created).toBe(false);
    expect(replaced.kind === "edited" && (replaced.document.routes as Array<{ id: string }>).map((r) => r.id)).toEqual(["users", "orders"]);
    const added = putRoute(base, "new", { match: { path: "/new" }, cluster: "users" });
    expect(added.kind === "edited" && added.created).toBe(true);
    expect(added.kind === "edited" && (added.document.routes as Array<{ id: string }>).at(-1)?.id).toBe("new");
  });

  it("takes the id from the path, whatever the body says", () => {
    const result = putRoute(base, "users", { id: "other", match: { path: "/x" }, cluster: "users" });
    expect(result.kind === "edited" && (result.document.routes as Array<{ id: string }>)[0]?.id).toBe("users");
  });

  it("deletes routes and clusters, and says when there is none", () => {
    expect(deleteRoute(base, "missing").kind).toBe("not-found");
    expect(deleteCluster(base, "missing").kind).toBe("not-found");
    const result = deleteCluster(base, "orders");
    expect(result.kind === "edited" && Object.keys(result.document.clusters as object)).toEqual(["users"]);
    const put = putCluster(base, "billing", { targets: [{ url: "https://c.example.com" }] });
    expect(put.kind === "edited" && put.created).toBe(true);
    expect(base.clusters).not.toHaveProperty("billing");
  });

  it("refuses a document that is not a config object", () => {
    expect(putRoute([], "x", {}).kind).toBe("not-a-config");
  });
});
