/**
 * A route's `cache` block: the schema, the compiled form and the compile step. The stored copies
 * live in the Workers Cache API; the flight table that merges misses and the purge rules are the
 * isolate runtime's. Defaults and their reasoning: docs/caching.md.
 */
import * as v from "valibot";
import type { CompiledAuth } from "../auth/config.ts";
import { credentialHeaders } from "../coalesce/key.ts";
import { type ConfigIssue, described, headerName, type IssueAt, integer } from "../config/fields.ts";
import { metricKey } from "../metrics.ts";

/** A day: the longest any lifetime may be, so a purge rule never has to outlive more than this. */
export const MAX_LIFETIME_SEC = 86_400;

export const cacheSchema = v.strictObject({
  ttlSec: described(integer(1, MAX_LIFETIME_SEC), "How long a stored answer is fresh and served without asking the upstream, in seconds."),
  staleWhileRevalidateSec: v.optional(
    described(
      integer(0, MAX_LIFETIME_SEC),
      "For this many seconds after it went stale, a stored answer is still served while one request refreshes it in the background (0: off).",
    ),
    0,
  ),
  staleIfErrorSec: v.optional(
    described(
      integer(0, MAX_LIFETIME_SEC),
      "For this many seconds after it went stale, a stored answer is served when the upstream fails or no target is healthy (0: off).",
    ),
    0,
  ),
  varyHeaders: v.optional(
    described(
      v.pipe(v.array(headerName, "must be an array"), v.maxLength(16, "must have at most 16 headers")),
      "Request headers the answer depends on (e.g. accept-language), as the upstream receives them: each value gets its own stored copy. An answer whose Vary names a header not listed here is not stored.",
    ),
    [],
  ),
  public: v.optional(
    described(
      v.boolean("must be true or false"),
      "The answer is the same whoever asks: one stored copy serves every caller. When false, each credential (Authorization, Cookie, X-Api-Key, the route's own) has copies of its own.",
    ),
    false,
  ),
  maxBodyBytes: v.optional(
    described(integer(0, 16 * 1024 * 1024), "Largest body stored, in bytes; a larger answer streams to its caller and is not stored."),
    1024 * 1024,
  ),
  respectCacheControl: v.optional(
    described(
      v.boolean("must be true or false"),
      "The upstream's Cache-Control may shorten the lifetimes (s-maxage or max-age, stale-while-revalidate, stale-if-error) and no-cache keeps an answer out; the route's values stay the upper bounds.",
    ),
    false,
  ),
  maxWaiters: v.optional(
    described(integer(1, 100_000), "Most callers waiting on one upstream call for a missing answer; more make their own call."),
    1_000,
  ),
});

export type CacheConfig = v.InferOutput<typeof cacheSchema>;

export interface CompiledCache {
  ttlSec: number;
  staleWhileRevalidateSec: number;
  staleIfErrorSec: number;
  varyHeaders: readonly string[];
  public: boolean;
  /** Request headers whose values (hashed) are part of the key unless the route is public. */
  credentialHeaders: readonly string[];
  maxBodyBytes: number;
  respectCacheControl: boolean;
  maxWaiters: number;
  /**
   * The route's key space: its id and a digest of its cache settings. A publish that changes them
   * starts a new key space, so nothing stored under the old rules is served under the new ones.
   */
  keySpace: string;
  /** The identity of the runtime's flight table for this route: the key space and the targets its requests may reach. */
  stateKey: string;
  /** Counter keys, rendered once. */
  metrics: {
    /** How each request was served. */
    result: Record<"hit" | "stale" | "staleIfError" | "miss" | "collapsed" | "bypass", string>;
    /** Answers stored, and answers not stored (by any reason). */
    stored: string;
    notStored: string;
  };
}

/** FNV-1a (32 bits) of `text`, forwards or backwards. */
function fnv1a(text: string, backwards: boolean): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(backwards ? text.length - 1 - i : i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/**
 * A short, stable digest of a route's cache settings, computed without awaiting (compile is
 * synchronous). It names a key space, it guards no secret: a collision would only keep copies of
 * the same route's earlier settings in use.
 */
export function settingsDigest(text: string): string {
  return fnv1a(text, false) + fnv1a(text, true);
}

/** The longest a stored copy of this route is kept: fresh, then stale for either reason. */
export function lifetimeSec(cache: Pick<CompiledCache, "ttlSec" | "staleWhileRevalidateSec" | "staleIfErrorSec">): number {
  return cache.ttlSec + Math.max(cache.staleWhileRevalidateSec, cache.staleIfErrorSec);
}

export function compileCache(routeId: string, cache: CacheConfig, auth: CompiledAuth | null, targets: unknown): CompiledCache {
  const own: string[] = [];
  if (auth?.apiKey) own.push(auth.apiKey.header);
  if (auth?.tokenSource.kind === "header") own.push(auth.tokenSource.name);
  const keySpace = `${routeId}/${settingsDigest(JSON.stringify([routeId, cache]))}`;
  const key = (name: string, labels: Record<string, string> = {}) => metricKey(name, { route: routeId, ...labels });
  const result = (r: string) => key("cache_requests_total", { result: r });
  return {
    ttlSec: cache.ttlSec,
    staleWhileRevalidateSec: cache.staleWhileRevalidateSec,
    staleIfErrorSec: cache.staleIfErrorSec,
    varyHeaders: cache.varyHeaders,
    public: cache.public,
    credentialHeaders: credentialHeaders(own),
    maxBodyBytes: cache.maxBodyBytes,
    respectCacheControl: cache.respectCacheControl,
    maxWaiters: cache.maxWaiters,
    keySpace,
    stateKey: JSON.stringify([keySpace, targets]),
    metrics: {
      result: {
        hit: result("hit"),
        stale: result("stale"),
        staleIfError: result("stale_if_error"),
        miss: result("miss"),
        collapsed: result("collapsed"),
        bypass: result("bypass"),
      },
      stored: key("cache_stores_total"),
      notStored: key("cache_not_stored_total"),
    },
  };
}

/** Caching stores reads: a route that matches neither GET nor HEAD has nothing to store. */
export function cacheIssues(methods: readonly string[] | undefined, at: IssueAt, issues: ConfigIssue[]): void {
  if (methods !== undefined && !methods.some((m) => m === "GET" || m === "HEAD")) {
    issues.push({ path: at(".cache"), message: "only applies to GET and HEAD, and the route matches neither" });
  }
}
