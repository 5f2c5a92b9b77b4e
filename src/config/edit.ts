/**
 * Single-entry edits of a config document, for the admin API's route and cluster conveniences.
 * Pure: they take the document as it was published (defaults not filled in) and return a new one,
 * which the caller validates and publishes as a new version like any other.
 */

type Document = Record<string, unknown>;

export type EditResult = { kind: "edited"; document: Document; created: boolean } | { kind: "not-found" } | { kind: "not-a-config" };

function asDocument(document: unknown): Document | null {
  return typeof document === "object" && document !== null && !Array.isArray(document) ? (document as Document) : null;
}

function routesOf(document: Document): unknown[] {
  return Array.isArray(document.routes) ? document.routes : [];
}

function routeId(route: unknown): unknown {
  return typeof route === "object" && route !== null ? (route as { id?: unknown }).id : undefined;
}

/** The route with `id`, or undefined. */
export function findRoute(document: unknown, id: string): unknown {
  const doc = asDocument(document);
  return doc ? routesOf(doc).find((route) => routeId(route) === id) : undefined;
}

/** The cluster named `name`, or undefined. */
export function findCluster(document: unknown, name: string): unknown {
  const clusters = asDocument(asDocument(document)?.clusters);
  return clusters && Object.hasOwn(clusters, name) ? clusters[name] : undefined;
}

/** Replaces the route with `id` in place (its position decides matching order), or appends it. */
export function putRoute(document: unknown, id: string, route: Document): EditResult {
  const doc = asDocument(document);
  if (!doc) return { kind: "not-a-config" };
  const routes = routesOf(doc);
  const at = routes.findIndex((existing) => routeId(existing) === id);
  const next = { ...route, id };
  const updated = at === -1 ? [...routes, next] : routes.map((existing, i) => (i === at ? next : existing));
  return { kind: "edited", document: { ...doc, routes: updated }, created: at === -1 };
}

export function deleteRoute(document: unknown, id: string): EditResult {
  const doc = asDocument(document);
  if (!doc) return { kind: "not-a-config" };
  const routes = routesOf(doc);
  if (!routes.some((route) => routeId(route) === id)) return { kind: "not-found" };
  return { kind: "edited", document: { ...doc, routes: routes.filter((route) => routeId(route) !== id) }, created: false };
}

export function putCluster(document: unknown, name: string, cluster: Document): EditResult {
  const doc = asDocument(document);
  if (!doc) return { kind: "not-a-config" };
  const clusters = asDocument(doc.clusters) ?? {};
  const created = !Object.hasOwn(clusters, name);
  return { kind: "edited", document: { ...doc, clusters: { ...clusters, [name]: cluster } }, created };
}

/** Removes a cluster; validation then refuses the result if a route still names it. */
export function deleteCluster(document: unknown, name: string): EditResult {
  const doc = asDocument(document);
  if (!doc) return { kind: "not-a-config" };
  const clusters = asDocument(doc.clusters) ?? {};
  if (!Object.hasOwn(clusters, name)) return { kind: "not-found" };
  const { [name]: _removed, ...rest } = clusters;
  return { kind: "edited", document: { ...doc, clusters: rest }, created: false };
}
