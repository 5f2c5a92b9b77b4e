/**
 * What changes between two config documents, entry by entry: routes by id (and their order),
 * clusters and JWT providers by name, each with the fields that differ. Pure; the CLI prints it
 * before a publish.
 */

export interface ConfigChange {
  kind: "added" | "removed" | "changed" | "moved";
  /** `routes[users-read]`, `clusters.users`, `jwtProviders.idp`, or a top-level field name. */
  entry: string;
  /** For "changed": the field paths inside the entry that differ. */
  fields: string[];
}

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Field paths where `a` and `b` differ; "" when they differ at the top. */
function differingFields(a: Json, b: Json, at = ""): string[] {
  const fields: string[] = [];
  collectDifferingFields(a, b, at, fields);
  return fields;
}

/**
 * Appends to `fields` rather than returning arrays to concatenate at every level, so the work is
 * linear in the size of both values: each node is visited once, and JSON.stringify runs only where
 * the walk stops (a leaf, or values of different shapes), never over a subtree it already walked.
 */
function collectDifferingFields(a: Json, b: Json, at: string, fields: string[]): void {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) collectDifferingFields(a[key], b[key], at ? `${at}.${key}` : key, fields);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      // A hole in `a` is skipped, as Array.prototype.flatMap did here (parsed JSON has none).
      if (i in a) collectDifferingFields(a[i], b[i], `${at}[${i}]`, fields);
    }
    return;
  }
  // Equal primitives serialize alike; the comparison of their JSON text stays for the rest, where
  // it decides (NaN and Infinity both read "null", undefined equals a missing key).
  if (a === b || JSON.stringify(a) === JSON.stringify(b)) return;
  fields.push(at);
}

function byName(value: Json): Map<string, Json> {
  return new Map(isObject(value) ? Object.entries(value) : []);
}

function routesById(value: Json): Map<string, Json> {
  const routes = new Map<string, Json>();
  if (!Array.isArray(value)) return routes;
  for (const route of value) {
    const id = isObject(route) && typeof route.id === "string" ? route.id : JSON.stringify(route);
    routes.set(id, route);
  }
  return routes;
}

function diffEntries(label: (name: string) => string, before: Map<string, Json>, after: Map<string, Json>): ConfigChange[] {
  const changes: ConfigChange[] = [];
  for (const [name, value] of before) {
    if (!after.has(name)) changes.push({ kind: "removed", entry: label(name), fields: [] });
    else {
      const fields = differingFields(value, after.get(name));
      if (fields.length > 0) changes.push({ kind: "changed", entry: label(name), fields });
    }
  }
  for (const name of after.keys()) if (!before.has(name)) changes.push({ kind: "added", entry: label(name), fields: [] });
  return changes;
}

/** The changes that turn `before` into `after`; empty when they configure the same gateway. */
export function diffConfigs(before: Json, after: Json): ConfigChange[] {
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  // Each side's routes are indexed once: every lookup below is a Map read, so the whole diff is
  // linear in the number of routes, clusters and providers (the validate endpoint runs it inside
  // the Worker's CPU limit, on up to the schema's 20,000 routes).
  const routesBefore = routesById(a.routes);
  const routesAfter = routesById(b.routes);
  const changes = [
    ...diffEntries((id) => `routes[${id}]`, routesBefore, routesAfter),
    ...diffEntries((name) => `clusters.${name}`, byName(a.clusters), byName(b.clusters)),
    ...diffEntries((name) => `jwtProviders.${name}`, byName(a.jwtProviders), byName(b.jwtProviders)),
  ];
  // Routes match in config order: the same routes in another order are a real change.
  const orderBefore = [...routesBefore.keys()].filter((id) => routesAfter.has(id));
  const orderAfter = [...routesAfter.keys()].filter((id) => routesBefore.has(id));
  if (orderBefore.join("\u0000") !== orderAfter.join("\u0000")) changes.push({ kind: "moved", entry: "routes (order)", fields: [] });
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === "routes" || key === "clusters" || key === "jwtProviders") continue;
    const fields = differingFields(a[key], b[key], key);
    if (fields.length > 0) changes.push({ kind: key in a ? (key in b ? "changed" : "removed") : "added", entry: key, fields });
  }
  return changes;
}
