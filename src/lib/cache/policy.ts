/**
 * What the cache stores and how long it serves it: storability and lifetimes of an upstream answer
 * (RFC 9111, with the route's settings as the upper bounds), the age of a stored copy, the record
 * kept beside each copy, and the Cache-Status member (RFC 9211). Pure.
 */
import { unshareableReason, varyNames } from "../coalesce/response.ts";
import type { CompiledCache } from "./config.ts";

/**
 * Statuses a shared cache may store without explicit freshness (RFC 9110 section 15.1, "heuristically
 * cacheable"), less 206 (a range is one client's; the Cache API refuses it too).
 */
const STORABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Vary names the runtime settles itself: Workers decode and re-encode bodies, so an answer on Accept-Encoding fits every caller. */
const SETTLED_BY_RUNTIME = new Set(["accept-encoding"]);

/** How long one stored copy is fresh and may be served stale, in seconds. */
export interface Lifetimes {
  ttlSec: number;
  swrSec: number;
  sieSec: number;
}

export type NotStored =
  | ReturnType<typeof unshareableReason>
  | "status"
  | "vary-undeclared"
  | "no-cache"
  | "no-freshness"
  | "too-large"
  | "body-failed";

export type StoragePlan = { store: true; lifetimes: Lifetimes } | { store: false; reason: NonNullable<NotStored> };

/** Cache-Control directives (RFC 9111 section 5.2) by lower-case name, with their argument (unquoted) or "". */
export function cacheDirectives(value: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  if (value === null) return directives;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    const argument =
      eq === -1
        ? ""
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, "");
    if (!directives.has(name)) directives.set(name, argument);
  }
  return directives;
}

/** A delta-seconds argument (RFC 9111 section 1.2.2), or null when absent or malformed. */
function deltaSeconds(value: string | undefined): number | null {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

/**
 * Whether the answer (judged on the upstream's own headers) may be stored, and for how long.
 * Never stored: Set-Cookie, `private`, `no-store`, `Vary: *` or a per-request field (as for
 * coalescing), a status a shared cache may not store by default, and a Vary on a request field the
 * route does not key on (its copies would be served to callers that differ on it).
 */
export function storagePlan(status: number, upstream: Headers, cache: CompiledCache): StoragePlan {
  const unshareable = unshareableReason(status, upstream);
  if (unshareable !== null) return { store: false, reason: unshareable };
  if (!STORABLE_STATUS.has(status)) return { store: false, reason: "status" };
  for (const name of varyNames(upstream.get("vary"))) {
    if (!SETTLED_BY_RUNTIME.has(name) && !cache.varyHeaders.includes(name)) return { store: false, reason: "vary-undeclared" };
  }
  const lifetimes: Lifetimes = { ttlSec: cache.ttlSec, swrSec: cache.staleWhileRevalidateSec, sieSec: cache.staleIfErrorSec };
  if (!cache.respectCacheControl) return { store: true, lifetimes };
  const directives = cacheDirectives(upstream.get("cache-control"));
  // no-cache: every use must be revalidated (RFC 9111 section 5.2.2.4); this cache does not revalidate.
  if (directives.has("no-cache")) return { store: false, reason: "no-cache" };
  // A shared cache takes s-maxage over max-age (RFC 9111 section 5.2.2.10).
  const maxAge = deltaSeconds(directives.get("s-maxage")) ?? deltaSeconds(directives.get("max-age"));
  if (maxAge !== null) lifetimes.ttlSec = Math.min(lifetimes.ttlSec, maxAge);
  // RFC 5861: the upstream's own stale windows, within the route's.
  const swr = deltaSeconds(directives.get("stale-while-revalidate"));
  if (swr !== null) lifetimes.swrSec = Math.min(lifetimes.swrSec, swr);
  const sie = deltaSeconds(directives.get("stale-if-error"));
  if (sie !== null) lifetimes.sieSec = Math.min(lifetimes.sieSec, sie);
  // must-revalidate and proxy-revalidate forbid serving it stale (RFC 9111 sections 5.2.2.2, 5.2.2.8).
  if (directives.has("must-revalidate") || directives.has("proxy-revalidate")) {
    lifetimes.swrSec = 0;
    lifetimes.sieSec = 0;
  }
  if (lifetimes.ttlSec + Math.max(lifetimes.swrSec, lifetimes.sieSec) === 0) return { store: false, reason: "no-freshness" };
  return { store: true, lifetimes };
}

/** Cache-Tag values: comma-separated, trimmed, each at most 256 characters, at most 64 of them. */
export function cacheTags(value: string | null): string[] {
  if (value === null) return [];
  const tags: string[] = [];
  for (const part of value.split(",")) {
    const tag = part.trim();
    if (tag && tag.length <= 256 && !tags.includes(tag)) tags.push(tag);
    if (tags.length === 64) break;
  }
  return tags;
}

/** What is kept beside a stored copy, in its `x-edgegate-cache` header (never sent to a client). */
export interface EntryRecord {
  /** Epoch ms at which the upstream call that produced it started: a purge after that drops it. */
  storedAt: number;
  ttlSec: number;
  swrSec: number;
  sieSec: number;
  /** The normalized path and query it answers, for purges by prefix. */
  path: string;
  /** The Cache-Tag values the upstream set, for purges by tag. */
  tags: string[];
  /** The upstream's own Cache-Control and Vary, given back to clients (the stored copy carries the cache's own). */
  cacheControl: string | null;
  vary: string | null;
}

export const ENTRY_RECORD_HEADER = "x-edgegate-cache";

export function encodeEntryRecord(record: EntryRecord): string {
  // Header values must be Latin-1: escape everything else, so paths and tags of any script survive.
  return JSON.stringify(record).replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The record of a stored copy, or null when it is missing or malformed (the copy is then treated as absent). */
export function decodeEntryRecord(value: string | null): EntryRecord | null {
  if (value === null) return null;
  try {
    const record = JSON.parse(value) as Partial<EntryRecord>;
    const numbers = [record.storedAt, record.ttlSec, record.swrSec, record.sieSec];
    if (!numbers.every((n) => typeof n === "number" && Number.isFinite(n))) return null;
    if (typeof record.path !== "string" || !Array.isArray(record.tags)) return null;
    if (!record.tags.every((tag) => typeof tag === "string")) return null;
    return {
      storedAt: record.storedAt as number,
      ttlSec: record.ttlSec as number,
      swrSec: record.swrSec as number,
      sieSec: record.sieSec as number,
      path: record.path,
      tags: record.tags,
      cacheControl: typeof record.cacheControl === "string" ? record.cacheControl : null,
      vary: typeof record.vary === "string" ? record.vary : null,
    };
  } catch {
    return null;
  }
}

/**
 * What a stored copy may be used for at `now`: served as it is, served while one request refreshes
 * it, served only when the upstream fails, or nothing.
 */
export type Freshness = "fresh" | "stale-while-revalidate" | "stale-if-error" | "expired";

/** Whole seconds since the copy's upstream call started (its Age, RFC 9111 section 5.1). */
export function ageSec(record: EntryRecord, now: number): number {
  return Math.max(0, Math.floor((now - record.storedAt) / 1000));
}

export function freshness(record: EntryRecord, now: number): Freshness {
  const age = ageSec(record, now);
  if (age < record.ttlSec) return "fresh";
  if (age < record.ttlSec + record.swrSec) return "stale-while-revalidate";
  if (age < record.ttlSec + record.sieSec) return "stale-if-error";
  return "expired";
}

/** The cache's name in Cache-Status (RFC 9211 section 2). */
const CACHE_NAME = "edgegate";

/** A Cache-Status list member (RFC 9211 section 2): the cache's name and its parameters. */
export function cacheStatus(params: ReadonlyArray<string | false | null | undefined>): string {
  let member = CACHE_NAME;
  for (const param of params) if (param) member += `; ${param}`;
  return member;
}
