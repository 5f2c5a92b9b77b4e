/**
 * What changes between two config documents, entry by entry: routes by id (and their order),
 * clusters and JWT providers by name, each with the fields that differ and, on request, their
 * values before and after. Pure; the CLI prints it before a publish.
 */

type Json = unknown;

/** One field's value on each side; a side where the field is missing has none (undefined). */
export interface FieldChange {
  /** A path in `fields`, or "" for the whole entry. */
  field: string;
  before?: Json;
  after?: Json;
}

export interface ConfigChange {
  kind: "added" | "removed" | "changed" | "moved";
  /** `routes[users-read]`, `clusters.users`, `jwtProviders.idp`, `routes (order)`, or a top-level field name. */
  entry: string;
  /**
   * The field paths that differ: inside the entry for a route, cluster or provider (`timeoutMs`,
   * `targets[0].weight`), from the top for a top-level field (`observability.serverTiming`).
   */
  fields: string[];
  /**
   * With `{ values: true }` only: the value before and after of each path in `fields`, in the same
   * order, or, when `fields` is empty, of the whole entry (the route or cluster added or removed;
   * for `routes (order)`, the ids of the routes on both sides in their order before and after).
   */
  values?: FieldChange[];
}

export interface DiffOptions {
  /** Also give each change's values before and after (`values`): what the CLI shows. Default false. */
  values?: boolean;
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where `a` and `b` differ: the field paths ("" when they differ at the top), and their values when asked. */
interface Differences {
  fields: string[];
  /** null when the values are not wanted: the walk then allocates nothing for them. */
  values: FieldChange[] | null;
}

function differences(a: Json, b: Json, withValues: boolean, at = ""): Differences {
  const found: Differences = { fields: [], values: withValues ? [] : null };
  collectDifferingFields(a, b, at, found.fields, found.values);
  return found;
}

/**
 * Appends to `fields` (and `values`) rather than returning arrays to concatenate at every level, so
 * the work is linear in the size of both values: each node is visited once, and JSON.stringify runs
 * only where the walk stops (a leaf, or values of different shapes), never over a subtree it
 * already walked.
 */
function collectDifferingFields(a: Json, b: Json, at: string, fields: string[], values: FieldChange[] | null): void {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) collectDifferingFields(a[key], b[key], at ? `${at}.${key}` : key, fields, values);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      // A hole in `a` is skipped, as Array.prototype.flatMap did here (parsed JSON has none).
      if (i in a) collectDifferingFields(a[i], b[i], `${at}[${i}]`, fields, values);
    }
    return;
  }
  // Equal primitives serialize alike; the comparison of their JSON text stays for the rest, where
  // it decides (NaN and Infinity both read "null", undefined equals a missing key).
  if (a === b || JSON.stringify(a) === JSON.stringify(b)) return;
  fields.push(at);
  // The values are the documents' own (no copy): one push per differing field keeps the walk linear.
  values?.push({ field: at, before: a, after: b });
}

function byName(value: Json): Map<string, Json> {
  return new Map(isObject(value) ? Object.entries(value) : []);
}

/** The key a route is diffed by: its id, or its JSON text when it has no string id (an unvalidated document). */
export function routeKey(route: Json): string {
  return isObject(route) && typeof route.id === "string" ? route.id : JSON.stringify(route);
}

function routesById(value: Json): Map<string, Json> {
  const routes = new Map<string, Json>();
  if (!Array.isArray(value)) return routes;
  for (const route of value) routes.set(routeKey(route), route);
  return routes;
}

/** A change with no fields; with values, the whole entry (or order) before and after. */
function wholeChange(kind: ConfigChange["kind"], entry: string, withValues: boolean, before: Json, after: Json): ConfigChange {
  const change: ConfigChange = { kind, entry, fields: [] };
  if (withValues) change.values = [{ field: "", before, after }];
  return change;
}

/** A change with the fields that differ (and their values, when they were collected). */
function changed(kind: ConfigChange["kind"], entry: string, found: Differences): ConfigChange {
  return found.values ? { kind, entry, fields: found.fields, values: found.values } : { kind, entry, fields: found.fields };
}

function diffEntries(
  label: (name: string) => string,
  before: Map<string, Json>,
  after: Map<string, Json>,
  withValues: boolean,
): ConfigChange[] {
  const changes: ConfigChange[] = [];
  for (const [name, value] of before) {
    if (!after.has(name)) changes.push(wholeChange("removed", label(name), withValues, value, undefined));
    else {
      const found = differences(value, after.get(name), withValues);
      if (found.fields.length > 0) changes.push(changed("changed", label(name), found));
    }
  }
  for (const [name, value] of after) if (!before.has(name)) changes.push(wholeChange("added", label(name), withValues, undefined, value));
  return changes;
}

/** The changes that turn `before` into `after`; empty when they configure the same gateway. */
export function diffConfigs(before: Json, after: Json, options: DiffOptions = {}): ConfigChange[] {
  const withValues = options.values === true;
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  // Each side's routes are indexed once: every lookup below is a Map read, so the whole diff is
  // linear in the number of routes, clusters and providers (the validate endpoint runs it inside
  // the Worker's CPU limit, on up to the schema's 20,000 routes).
  const routesBefore = routesById(a.routes);
  const routesAfter = routesById(b.routes);
  const changes = [
    ...diffEntries((id) => `routes[${id}]`, routesBefore, routesAfter, withValues),
    ...diffEntries((name) => `clusters.${name}`, byName(a.clusters), byName(b.clusters), withValues),
    ...diffEntries((name) => `jwtProviders.${name}`, byName(a.jwtProviders), byName(b.jwtProviders), withValues),
  ];
  // Routes match in config order: the same routes in another order are a real change.
  const orderBefore = [...routesBefore.keys()].filter((id) => routesAfter.has(id));
  const orderAfter = [...routesAfter.keys()].filter((id) => routesBefore.has(id));
  if (orderBefore.join("\u0000") !== orderAfter.join("\u0000")) {
    changes.push(wholeChange("moved", "routes (order)", withValues, orderBefore, orderAfter));
  }
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === "routes" || key === "clusters" || key === "jwtProviders") continue;
    const found = differences(a[key], b[key], withValues, key);
    if (found.fields.length > 0) changes.push(changed(key in a ? (key in b ? "changed" : "removed") : "added", key, found));
  }
  return changes;
}
