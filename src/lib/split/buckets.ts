/**
 * Weighted splits between clusters: which side of a split a request goes to. Pure. Shares are
 * counted in basis points (1/100 of a percent) over 10,000 buckets; a sticky key hashes to a fixed
 * bucket, so a caller stays on its side, and raising a share (1% to 10%) only moves callers onto
 * the new side, never back.
 */
import { cookieValue } from "../credentials.ts";
import type { Identity } from "../identity.ts";
import { type KeyPart, keyPartValue } from "../rate-limit/key.ts";

export const BUCKETS = 10_000;

export type StickyKey = Extract<KeyPart, { kind: "ip" | "subject" | "header" }> | { kind: "cookie"; name: string };

/** Parses the config's notation (`ip`, `subject`, `header:x-user`, `cookie:uid`); validation has vouched for it. */
export function parseStickyKey(key: string): StickyKey {
  if (key === "ip" || key === "subject") return { kind: key };
  if (key.startsWith("header:")) return { kind: "header", name: key.slice(7) };
  return { kind: "cookie", name: key.slice(7) };
}

/** The request's value of its sticky key; undefined when it has none (it is then assigned at random). */
export function stickyValue(key: StickyKey, headers: Headers, identity: Identity | undefined): string | undefined {
  return key.kind === "cookie" ? cookieValue(headers.get("cookie"), key.name) : keyPartValue(key, headers, identity);
}

/** A bucket in [0, BUCKETS) from a string: FNV-1a (32 bit), stable across isolates and releases. */
export function bucketOf(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % BUCKETS;
}

/**
 * The upper bucket bounds of the split's sides, in order, from their percentages: side i takes
 * buckets [bounds[i-1], bounds[i]). The primary (the route's own cluster) comes last and takes the rest.
 */
export function sideBounds(percents: readonly number[]): number[] {
  const bounds: number[] = [];
  let upTo = 0;
  for (const percent of percents) {
    upTo = Math.min(BUCKETS, upTo + Math.round(percent * 100));
    bounds.push(upTo);
  }
  bounds.push(BUCKETS);
  return bounds;
}

/** The side whose bucket range holds `bucket`. */
export function sideOf(bucket: number, bounds: readonly number[]): number {
  for (let i = 0; i < bounds.length; i++) if (bucket < (bounds[i] as number)) return i;
  return bounds.length - 1;
}
