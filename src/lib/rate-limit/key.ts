/**
 * Rate-limit keys: what one counter is kept per. A key is built from the policy's parts, each
 * tagged and percent-encoded, so distinct inputs never meet in one counter ("a:b" + "c" is not
 * "a" + "b:c"). The client's address is CF-Connecting-IP, which Cloudflare's edge sets; headers a
 * client can write (X-Forwarded-For and friends) are never read.
 */
import { sha256Hex } from "../digest.ts";
import type { Identity } from "../identity.ts";

export type KeyPart =
  | { kind: "ip" }
  | { kind: "subject" }
  | { kind: "consumer" }
  | { kind: "header"; name: string }
  | { kind: "claim"; name: string };

/** Keys longer than this are replaced by their SHA-256, so one client cannot grow backend keys without bound. */
const MAX_KEY_CHARS = 256;

/** Parses the config's key notation (`ip`, `header:x-tenant`, ...); validation has vouched for it. */
export function parseKeyPart(part: string): KeyPart {
  if (part === "ip" || part === "subject" || part === "consumer") return { kind: part };
  if (part.startsWith("header:")) return { kind: "header", name: part.slice(7) };
  return { kind: "claim", name: part.slice(6) };
}

function claimText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** The request's value of one key part; undefined when it has none. Split stickiness reads requests the same way. */
export function keyPartValue(part: KeyPart, headers: Headers, identity: Identity | undefined): string | undefined {
  switch (part.kind) {
    case "ip":
      return headers.get("cf-connecting-ip") ?? undefined;
    case "subject":
      return identity?.subject ?? undefined;
    case "consumer":
      // An API key may name a shared rate-limit key, so several keys of one customer share a quota.
      return identity?.consumer === null || identity === undefined ? undefined : (identity.rateLimitKey ?? identity.consumer);
    case "header":
      return headers.get(part.name) ?? undefined;
    case "claim":
      return claimText(identity?.claims[part.name]);
  }
}

/**
 * The counter key for one request. A part the request lacks (no such header, no such claim) falls
 * back to the client's address, tagged apart from a real value, so callers who omit a header do not
 * all share, and exhaust, one counter (Kong falls back the same way).
 */
export function rateLimitKey(parts: readonly KeyPart[], headers: Headers, identity: Identity | undefined): string | Promise<string> {
  let key = "";
  for (const part of parts) {
    const value = keyPartValue(part, headers, identity);
    if (key !== "") key += "|";
    key +=
      value === undefined
        ? `none:${encodeURIComponent(headers.get("cf-connecting-ip") ?? "unknown")}`
        : `${part.kind}:${encodeURIComponent(value)}`;
  }
  return key.length <= MAX_KEY_CHARS ? key : sha256Key(key);
}

async function sha256Key(key: string): Promise<string> {
  return `sha256:${await sha256Hex(key)}`;
}
