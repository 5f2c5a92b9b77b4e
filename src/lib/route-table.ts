/**
 * A compiled route table: Hono's routers do the path matching, grouped by host the way Envoy
 * picks a virtual host (exact host, then the longest `*.suffix`, then routes for any host) and
 * within a host by literal first path segment. Routes keep config order: the first one whose path
 * and methods fit wins.
 */
import { METHOD_NAME_ALL, type Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";

/** What the table needs to know about a route; the payload is whatever the caller compiles. */
export interface RouteTableEntry<T> {
  path: string;
  /** Upper-case methods, or null for any method. */
  methods: ReadonlySet<string> | null;
  /** Lower-case host names, `*.suffix` patterns, or null for any host. */
  hosts: readonly string[] | null;
  payload: T;
}

export type RouteParams = Record<string, string>;

export type RouteLookup<T> =
  | { kind: "matched"; payload: T; params: RouteParams }
  | { kind: "method-not-allowed"; allow: readonly string[] }
  | { kind: "not-found" };

/** A route inside the table, with its position in the config (first match in config order wins). */
interface Candidate<T> extends RouteTableEntry<T> {
  order: number;
}

type Matches<T> = ReadonlyArray<readonly [Candidate<T>, unknown]>;

/**
 * Above this many routes a shard uses TrieRouter: measured on V8, RegExpRouter's single regular
 * expression costs ~0.1-0.4 us per match for a few routes but ~6-9 us at 1,000 and ~100+ us at
 * 10,000, while TrieRouter stays at 1-4 us (see BENCHMARKS.md).
 */
const REGEXP_ROUTER_MAX_ROUTES = 128;

function newRouter<T>(routes: number): Router<T> {
  if (routes > REGEXP_ROUTER_MAX_ROUTES) return new TrieRouter<T>();
  // TrieRouter takes over for the rare pattern sets RegExpRouter refuses.
  return new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] });
}

/** The first path segment of a route pattern when it is literal; undefined for `:param` or `*`. */
function literalFirstSegment(pattern: string): string | undefined {
  const end = pattern.indexOf("/", 1);
  const segment = end === -1 ? pattern.slice(1) : pattern.slice(1, end);
  return segment.startsWith(":") || segment === "*" ? undefined : segment;
}

function firstSegment(path: string): string {
  const end = path.indexOf("/", 1);
  return end === -1 ? path.slice(1) : path.slice(1, end);
}

/**
 * The routes of one host group, sharded by literal first path segment so each Hono router holds
 * few routes and the match cost does not grow with the table. Routes whose first segment is a
 * parameter or wildcard sit in one shared router consulted alongside the shard.
 */
class HostGroup<T> {
  readonly #entries: Candidate<T>[] = [];
  readonly #shards = new Map<string, Router<Candidate<T>>>();
  #dynamic: Router<Candidate<T>> | undefined;

  add(entry: Candidate<T>): void {
    this.#entries.push(entry);
  }

  /** Builds the routers; called once, after every route is added. */
  build(): void {
    const bySegment = new Map<string, Candidate<T>[]>();
    const dynamic: Candidate<T>[] = [];
    for (const entry of this.#entries) {
      const segment = literalFirstSegment(entry.path);
      if (segment === undefined) dynamic.push(entry);
      else {
        const list = bySegment.get(segment);
        if (list) list.push(entry);
        else bySegment.set(segment, [entry]);
      }
    }
    const routerOf = (entries: Candidate<T>[]) => {
      const router = newRouter<Candidate<T>>(entries.length);
      for (const entry of entries) router.add(METHOD_NAME_ALL, entry.path, entry);
      // Hono's routers compile lazily on the first match: do it now, off the hot path.
      router.match(METHOD_NAME_ALL, "/");
      return router;
    };
    for (const [segment, entries] of bySegment) this.#shards.set(segment, routerOf(entries));
    this.#dynamic = dynamic.length > 0 ? routerOf(dynamic) : undefined;
    this.#entries.length = 0;
  }

  /** Every route whose path matches, in config order, with its parameters. */
  match(path: string): Array<[Candidate<T>, RouteParams]> {
    const shard = this.#shards.get(firstSegment(path));
    const found = shard ? collect(shard.match(METHOD_NAME_ALL, path)) : [];
    if (this.#dynamic !== undefined) found.push(...collect(this.#dynamic.match(METHOD_NAME_ALL, path)));
    // Routers order their own results by registration, but two routers' results must be merged.
    if (found.length > 1) found.sort((a, b) => a[0].order - b[0].order);
    return found;
  }
}

/** Normalizes a Hono router result: RegExpRouter returns stash indexes, TrieRouter the values. */
function collect<T>([matches, stash]: [Matches<T>, unknown[]?] | readonly [Matches<T>, unknown[]?]): Array<[Candidate<T>, RouteParams]> {
  const out: Array<[Candidate<T>, RouteParams]> = [];
  for (const [candidate, paramMap] of matches) {
    const params: RouteParams = {};
    for (const name in paramMap as Record<string, unknown>) {
      const slot = (paramMap as Record<string, unknown>)[name];
      params[name] = stash ? String(stash[slot as number] ?? "") : String(slot);
    }
    out.push([candidate, params]);
  }
  return out;
}

function methodAllowed(methods: ReadonlySet<string> | null, method: string): boolean {
  if (methods === null) return true;
  // HEAD is GET without a body (RFC 9110 section 9.3.2): a GET route serves HEAD too.
  return methods.has(method) || (method === "HEAD" && methods.has("GET"));
}

export class RouteTable<T> {
  readonly #exact = new Map<string, HostGroup<T>>();
  /** `*.suffix` groups keyed by the suffix with its dot (".example.com"). */
  readonly #suffix = new Map<string, HostGroup<T>>();
  readonly #any = new HostGroup<T>();
  readonly size: number;

  constructor(entries: ReadonlyArray<RouteTableEntry<T>>) {
    this.size = entries.length;
    // Host-specific groups also hold the any-host routes, interleaved in config order, so a host
    // with its own routes still reaches the shared ones.
    const candidates = entries.map((entry, order) => ({ ...entry, order }));
    for (const entry of candidates) {
      for (const host of entry.hosts ?? []) {
        const [map, key] = host.startsWith("*.") ? [this.#suffix, host.slice(1)] : [this.#exact, host];
        if (!map.has(key)) map.set(key, new HostGroup<T>());
      }
    }
    const groups = [...this.#exact.entries(), ...[...this.#suffix.entries()].map(([k, g]) => [`*${k}`, g] as const)];
    for (const entry of candidates) {
      if (entry.hosts === null) {
        this.#any.add(entry);
        for (const [, group] of groups) group.add(entry);
      } else {
        for (const host of entry.hosts) {
          (host.startsWith("*.") ? this.#suffix.get(host.slice(1)) : this.#exact.get(host))?.add(entry);
        }
      }
    }
    this.#any.build();
    for (const [, group] of groups) group.build();
  }

  #groupFor(host: string): HostGroup<T> {
    const exact = this.#exact.get(host);
    if (exact) return exact;
    if (this.#suffix.size > 0) {
      // Longest suffix first: for a.b.example.com try .b.example.com, then .example.com, ...
      for (let dot = host.indexOf("."); dot !== -1; dot = host.indexOf(".", dot + 1)) {
        const group = this.#suffix.get(host.slice(dot));
        if (group) return group;
      }
    }
    return this.#any;
  }

  /** Finds the route for a request; `host` is lower-case without port, `path` already normalized. */
  lookup(host: string, method: string, path: string): RouteLookup<T> {
    const matches = this.#groupFor(host).match(path);
    if (matches.length === 0) return { kind: "not-found" };
    for (const [candidate, params] of matches) {
      if (methodAllowed(candidate.methods, method)) return { kind: "matched", payload: candidate.payload, params };
    }
    const allow = new Set<string>();
    for (const [candidate] of matches) {
      for (const m of candidate.methods ?? []) allow.add(m);
      if (candidate.methods?.has("GET")) allow.add("HEAD");
    }
    return { kind: "method-not-allowed", allow: [...allow].sort() };
  }
}
