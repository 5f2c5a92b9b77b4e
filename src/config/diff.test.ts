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

type Route = { id?: unknown; [field: string]: unknown };

/** `n` routes of a few shapes, with ids `r0`..: the shape of a large real table. */
function routes(n: number): Route[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    match: { path: `/svc${i}/*`, ...(i % 5 === 0 ? { methods: ["GET", "POST"] } : {}) },
    cluster: "users",
    ...(i % 3 === 0 ? { timeoutMs: 1000 + i } : {}),
  }));
}

describe("diffConfigs on large configs", () => {
  it("lists removed and changed routes in the old order, then added ones in the new order, one move", () => {
    const before = { ...base, routes: routes(5_000) };
    const after: { clusters: typeof base.clusters; routes: Route[] } = structuredClone(before);
    const kept: Route[] = [];
    const expected: string[] = [];
    for (const [i, route] of after.routes.entries()) {
      if (i % 10 === 3) {
        expected.push(`removed routes[r${i}]`);
        continue;
      }
      if (i % 10 === 5) {
        (route.match as { path: string }).path = `/v2/svc${i}/*`;
        route.cluster = "orders";
        expected.push(`changed routes[r${i}] cluster,match.path`);
      }
      if (i % 20 === 0) {
        (route.match as { methods?: string[] }).methods = ["GET"];
        expected.push(`changed routes[r${i}] match.methods`);
      }
      kept.push(route);
    }
    // Added routes are spread through the table and do not reorder the others.
    const added = Array.from({ length: 500 }, (_, k) => ({ id: `new${k}`, match: { path: `/new${k}` }, cluster: "users" }));
    after.routes = kept.flatMap((route, k) => (k % 9 === 0 && k / 9 < added.length ? [added[k / 9] as Route, route] : [route]));
    expected.push(...added.map((route) => `added routes[${route.id}]`));
    const summary = (changes: ReturnType<typeof diffConfigs>) =>
      changes.map((c) => `${c.kind} ${c.entry}${c.fields.length ? ` ${c.fields}` : ""}`);
    expect(summary(diffConfigs(before, after))).toEqual(expected);

    // The same edits with one route moved: the same list and one "moved" after it.
    const moved = structuredClone(after);
    moved.routes.push(...moved.routes.splice(4_001, 1));
    expect(summary(diffConfigs(before, moved))).toEqual([...expected, "moved routes (order)"]);
  });

  it("sees a reorder among thousands of routes, and only a real one", () => {
    const before = { routes: routes(20_000) };
    const order = (list: Route[]) => diffConfigs(before, { routes: list });
    const swapped = [...before.routes];
    [swapped[10_000], swapped[10_001]] = [swapped[10_001] as Route, swapped[10_000] as Route];
    expect(order(swapped)).toEqual([{ kind: "moved", entry: "routes (order)", fields: [] }]);
    expect(order([...before.routes].reverse())).toEqual([{ kind: "moved", entry: "routes (order)", fields: [] }]);
    expect(order([...before.routes.slice(1), before.routes[0] as Route])).toEqual([{ kind: "moved", entry: "routes (order)", fields: [] }]);
    // Removing or inserting routes leaves the others in order: no move.
    expect(order(before.routes.filter((_, i) => i % 2 === 0)).map((c) => c.kind)).toEqual(Array(10_000).fill("removed"));
    const inserted = before.routes.flatMap((route, i) => (i % 1_000 === 0 ? [{ id: `x${i}`, cluster: "users" }, route] : [route]));
    expect(order(inserted).map((c) => c.kind)).toEqual(Array(20).fill("added"));
    // Routes that move only relative to removed or added ones keep their order too.
    const rotated = [...before.routes.slice(1, 5), { id: "x", cluster: "users" }, ...before.routes.slice(5)];
    expect(order(rotated).map((c) => `${c.kind} ${c.entry}`)).toEqual(["removed routes[r0]", "added routes[x]"]);
  });

  it("keys a repeated route id (an unvalidated document) by its first place and its last definition", () => {
    const before = { routes: [{ id: "a", timeoutMs: 1 }, { id: "b" }, { id: "a", timeoutMs: 2 }] };
    expect(diffConfigs(before, { routes: [{ id: "a", timeoutMs: 2 }, { id: "b" }] })).toEqual([]);
    expect(diffConfigs(before, { routes: [{ id: "a", timeoutMs: 1 }, { id: "b" }] })).toEqual([
      { kind: "changed", entry: "routes[a]", fields: ["timeoutMs"] },
    ]);
    expect(diffConfigs(before, { routes: [{ id: "b" }, { id: "a", timeoutMs: 2 }, { id: "b" }] })).toEqual([
      { kind: "moved", entry: "routes (order)", fields: [] },
    ]);
    const repeated = Array.from({ length: 10_000 }, (_, i) => ({ id: `r${i % 100}`, n: i }));
    expect(diffConfigs({ routes: repeated }, { routes: repeated.slice(-100) })).toEqual([]);
  });

  it("keys a route without a string id by its JSON text", () => {
    const before = { routes: [{ path: "/a" }, { id: 7 }, { id: "b" }] };
    expect(diffConfigs(before, { routes: [{ id: "b" }, { id: 7 }, { path: "/b" }] }).map((c) => `${c.kind} ${c.entry}`)).toEqual([
      'removed routes[{"path":"/a"}]',
      'added routes[{"path":"/b"}]',
      "moved routes (order)",
    ]);
    expect(diffConfigs(before, { routes: [{ id: 7 }, { id: "b", timeoutMs: 1 }] }).map((c) => `${c.kind} ${c.entry}`)).toEqual([
      'removed routes[{"path":"/a"}]',
      "changed routes[b]",
    ]);
  });

  it("names each differing element of a large array of the same length, and the whole array when the length changes", () => {
    const targets = Array.from({ length: 20_000 }, (_, i) => ({ url: `https://t${i}.example.com`, weight: 1 }));
    const before = { clusters: { big: { targets } }, routes: [] };
    const edited = structuredClone(targets);
    for (const i of [0, 7_777, 19_999]) (edited[i] as { weight: number }).weight = 2;
    (edited[12_345] as { url: string }).url = "https://other.example.com";
    expect(diffConfigs(before, { clusters: { big: { targets: edited } }, routes: [] })).toEqual([
      {
        kind: "changed",
        entry: "clusters.big",
        fields: ["targets[0].weight", "targets[7777].weight", "targets[12345].url", "targets[19999].weight"],
      },
    ]);
    expect(diffConfigs(before, { clusters: { big: { targets: targets.slice(1) } }, routes: [] })).toEqual([
      { kind: "changed", entry: "clusters.big", fields: ["targets"] },
    ]);
  });

  it("lists clusters and providers by name, changed fields in key order, many of each", () => {
    const clusters = (n: number, weight: (i: number) => number) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`c${i}`, { targets: [{ url: `https://c${i}.example.com`, weight: weight(i) }] }]),
      );
    const before = { clusters: clusters(3_000, () => 1), jwtProviders: { idp: { issuer: "a", audience: "x" } } };
    const after = {
      clusters: { ...clusters(3_000, (i) => (i % 1_000 === 0 ? 2 : 1)), extra: { targets: [] } },
      jwtProviders: { idp: { audience: "y", issuer: "b" } },
    };
    delete (after.clusters as Record<string, unknown>).c5;
    expect(diffConfigs(before, after).map((c) => `${c.kind} ${c.entry} ${c.fields}`)).toEqual([
      "changed clusters.c0 targets[0].weight",
      "removed clusters.c5 ",
      "changed clusters.c1000 targets[0].weight",
      "changed clusters.c2000 targets[0].weight",
      "added clusters.extra ",
      "changed jwtProviders.idp audience,issuer",
    ]);
  });

  it("gives the output of the straightforward per-entry comparison on random documents", () => {
    let seed = 42;
    // A linear congruential generator, read from its high bits (its low bits repeat with a short period).
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    const value = (depth: number): unknown => {
      const pick = random(depth > 2 ? 4 : 7);
      if (pick === 0) return random(3);
      if (pick === 1) return ["a", "b", "c"][random(3)];
      if (pick === 2) return null;
      if (pick === 3) return random(2) === 0;
      if (pick === 4) return Array.from({ length: random(3) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: random(4) }, () => [["x", "y", "z", "w"][random(4)], value(depth + 1)]));
    };
    const route = (): Route =>
      random(10) === 0 ? { path: `/${random(5)}` } : { id: `r${random(60)}`, timeoutMs: random(3), match: value(1) };
    const config = (): { routes: Route[]; clusters: Record<string, unknown>; [field: string]: unknown } => ({
      routes: Array.from({ length: random(80) }, route),
      clusters: Object.fromEntries(Array.from({ length: random(6) }, () => [`c${random(8)}`, value(1)])),
      ...(random(2) ? { jwtProviders: { idp: value(1) } } : {}),
      ...(random(2) ? { observability: value(0) } : {}),
    });
    // The next version is mostly an edit of the first, so that kept, changed and moved routes are common.
    const edit = (previous: ReturnType<typeof config>) => {
      const next = structuredClone(previous);
      next.routes = next.routes.flatMap((kept) => {
        const pick = random(12);
        if (pick === 0) return [];
        if (pick === 1) return [{ ...kept, timeoutMs: random(3) }];
        if (pick === 2) return [{ ...kept, match: value(1) }];
        if (pick === 3) return [kept, route()];
        return [kept];
      });
      for (let swaps = random(3); swaps > 0 && next.routes.length > 1; swaps--) {
        const [i, j] = [random(next.routes.length), random(next.routes.length)];
        [next.routes[i], next.routes[j]] = [next.routes[j] as Route, next.routes[i] as Route];
      }
      if (random(3) === 0) next.clusters[`c${random(8)}`] = value(1);
      return next;
    };
    for (let run = 0; run < 300; run++) {
      const before = config();
      const after = random(5) === 0 ? config() : edit(before);
      expect(diffConfigs(before, after)).toEqual(referenceDiff(before, after));
    }
  });
});

/**
 * The diff as first written (a map per route for the order check: quadratic), kept as the
 * specification the linear one must match exactly.
 */
function referenceDiff(before: unknown, after: unknown): Array<{ kind: string; entry: string; fields: string[] }> {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);
  const differing = (a: unknown, b: unknown, at = ""): string[] => {
    if (isObject(a) && isObject(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      return keys.flatMap((key) => differing(a[key], b[key], at ? `${at}.${key}` : key));
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return a.flatMap((item, i) => differing(item, b[i], `${at}[${i}]`));
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
  };
  const byName = (value: unknown) => new Map(isObject(value) ? Object.entries(value) : []);
  const byId = (value: unknown) =>
    new Map(Array.isArray(value) ? value.map((r) => [isObject(r) && typeof r.id === "string" ? r.id : JSON.stringify(r), r] as const) : []);
  const entries = (label: (name: string) => string, x: Map<string, unknown>, y: Map<string, unknown>) => {
    const out: Array<{ kind: string; entry: string; fields: string[] }> = [];
    for (const [name, value] of x) {
      if (!y.has(name)) out.push({ kind: "removed", entry: label(name), fields: [] });
      else {
        const fields = differing(value, y.get(name));
        if (fields.length > 0) out.push({ kind: "changed", entry: label(name), fields });
      }
    }
    for (const name of y.keys()) if (!x.has(name)) out.push({ kind: "added", entry: label(name), fields: [] });
    return out;
  };
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  const changes = [
    ...entries((id) => `routes[${id}]`, byId(a.routes), byId(b.routes)),
    ...entries((name) => `clusters.${name}`, byName(a.clusters), byName(b.clusters)),
    ...entries((name) => `jwtProviders.${name}`, byName(a.jwtProviders), byName(b.jwtProviders)),
  ];
  const orderBefore = [...byId(a.routes).keys()].filter((id) => byId(b.routes).has(id));
  const orderAfter = [...byId(b.routes).keys()].filter((id) => byId(a.routes).has(id));
  if (orderBefore.join("\u0000") !== orderAfter.join("\u0000")) changes.push({ kind: "moved", entry: "routes (order)", fields: [] });
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === "routes" || key === "clusters" || key === "jwtProviders") continue;
    const fields = differing(a[key], b[key], key);
    if (fields.length > 0) changes.push({ kind: key in a ? (key in b ? "changed" : "removed") : "added", entry: key, fields });
  }
  return changes;
}

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

describe("diffConfigs with values", () => {
  it("gives each changed field's value before and after, the whole entry added or removed, and the order moved", () => {
    const after = structuredClone(base) as typeof base & { routes: Array<Record<string, unknown>>; observability?: unknown };
    (after.routes[1] as Record<string, unknown>).timeoutMs = 2000;
    delete (after.routes[1] as Record<string, unknown>).match;
    after.routes.reverse();
    after.routes.push({ id: "health", match: { path: "/health" }, cluster: "users" });
    delete (after.clusters as Record<string, unknown>).orders;
    after.observability = { serverTiming: true };
    expect(diffConfigs(base, after, { values: true })).toEqual([
      {
        kind: "changed",
        entry: "routes[orders]",
        fields: ["match", "timeoutMs"],
        values: [
          { field: "match", before: { path: "/orders/*" }, after: undefined },
          { field: "timeoutMs", before: 5000, after: 2000 },
        ],
      },
      { kind: "added", entry: "routes[health]", fields: [], values: [{ field: "", after: after.routes[2] }] },
      { kind: "removed", entry: "clusters.orders", fields: [], values: [{ field: "", before: base.clusters.orders }] },
      {
        kind: "moved",
        entry: "routes (order)",
        fields: [],
        values: [{ field: "", before: ["users", "orders"], after: ["orders", "users"] }],
      },
      {
        kind: "added",
        entry: "observability",
        fields: ["observability"],
        values: [{ field: "observability", after: { serverTiming: true } }],
      },
    ]);
  });

  it("is the same diff with values added: one per field, or one for the whole entry", () => {
    const before = { ...base, routes: routes(2_000), observability: { accessLog: { sampleRate: 0.5 } } };
    const after = structuredClone(before) as typeof before & { routes: Route[] };
    after.routes = after.routes.filter((_, i) => i % 7 !== 0).map((route, i) => (i % 5 === 0 ? { ...route, timeoutMs: i } : route));
    after.routes.push(...after.routes.splice(10, 3), { id: "extra", cluster: "orders" });
    after.observability.accessLog.sampleRate = 0.1;
    const plain = diffConfigs(before, after);
    const withValues = diffConfigs(before, after, { values: true });
    expect(withValues.map(({ values: _, ...change }) => change)).toEqual(plain);
    for (const change of withValues) {
      expect(change.values?.map((value) => value.field)).toEqual(change.fields.length > 0 ? change.fields : [""]);
    }
    expect(withValues.find((change) => change.entry === "observability")?.values).toEqual([
      { field: "observability.accessLog.sampleRate", before: 0.5, after: 0.1 },
    ]);
  });
});
