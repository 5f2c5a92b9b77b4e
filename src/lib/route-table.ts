/**
 * A compiled route table: Hono's routers do the path matching, grouped by host the way Envoy
 * picks a virtual host (exact host, then the longest `*.suffix`, then routes for any host).
 * Within a group, routes keep config order and the first one whose methods fit wins.
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

type Candidate<T> = RouteTableEntry<T>;

function newRouter<T>(): Router<T> {
  // RegExpRouter compiles every path into one regular expression; TrieRouter takes over for the
  // rare pattern sets RegExpRouter refuses. SmartRouter settles on one at the first match.
  return new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] });
}

class HostGroup<T> {
  readonly router: Router<Candidate<T>> = newRouter();
  add(entry: Candidate<T>): void {
    this.router.add(METHOD_NAME_ALL, entry.path, entry);
  }
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
    for (const entry of entries) {
      for (const host of entry.hosts ?? []) {
        const [map, key] = host.startsWith("*.") ? [this.#suffix, host.slice(1)] : [this.#exact, host];
        if (!map.has(key)) map.set(key, new HostGroup<T>());
      }
    }
    const groups = [...this.#exact.entries(), ...[...this.#suffix.entries()].map(([k, g]) => [`*${k}`, g] as const)];
    for (const entry of entries) {
      if (entry.hosts === null) {
        this.#any.add(entry);
        for (const [, group] of groups) group.add(entry);
      } else {
        for (const host of entry.hosts) {
          (host.startsWith("*.") ? this.#suffix.get(host.slice(1)) : this.#exact.get(host))?.add(entry);
        }
      }
    }
    // Build the matchers now, off the hot path: Hono's routers compile lazily on the first match.
    this.#any.router.match(METHOD_NAME_ALL, "/");
    for (const [, group] of groups) group.router.match(METHOD_NAME_ALL, "/");
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
    const [matches, stash] = this.#groupFor(host).router.match(METHOD_NAME_ALL, path);
    if (matches.length === 0) return { kind: "not-found" };
    for (const [candidate, paramMap] of matches) {
      if (!methodAllowed(candidate.methods, method)) continue;
      const params: RouteParams = {};
      for (const name in paramMap) {
        const slot = (paramMap as Record<string, unknown>)[name];
        // RegExpRouter hands back indexes into the stash, TrieRouter the values themselves.
        params[name] = stash ? String(stash[slot as number] ?? "") : String(slot);
      }
      return { kind: "matched", payload: candidate.payload, params };
    }
    const allow = new Set<string>();
    for (const [candidate] of matches) {
      for (const m of candidate.methods ?? []) allow.add(m);
      if (candidate.methods?.has("GET")) allow.add("HEAD");
    }
    return { kind: "method-not-allowed", allow: [...allow].sort() };
  }
}
