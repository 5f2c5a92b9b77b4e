/**
 * What makes two requests "the same read" for coalescing: method, host, path and query, the values
 * the upstream gets for the headers the route says the answer varies on, the claim headers the
 * gateway forwards, and (unless the route's answers are public) the caller's credential. Pure; the
 * stage hashes the credential part.
 */
import { sha256Hex } from "../digest.ts";
import { foldedName, type HeaderPairs } from "../headers.ts";
import type { VaryValues } from "./response.ts";

/** Request fields that carry a credential by convention, whatever the route's own auth says. */
const CONVENTIONAL_CREDENTIALS = ["authorization", "cookie", "x-api-key"] as const;

/** The credential-carrying request headers of a route, folded: the conventional ones plus those its auth reads. */
export function credentialHeaders(routeHeaders: readonly string[]): readonly string[] {
  return [...new Set<string>([...CONVENTIONAL_CREDENTIALS, ...routeHeaders.map(foldedName)])];
}

// U+0000 cannot occur in a URL or a header value the runtime accepted, so the parts cannot run together.
const SEPARATOR = "\u0000";

/**
 * The key of a request without its credential: two requests with equal keys (and equal
 * credentials) would send the upstream the same read. `varied` holds the values the upstream gets
 * for the route's varyHeaders (varyValues over upstreamHeadersFor), never the client's own: a
 * client could otherwise send a header the gateway strips or replaces to join another's call.
 * `identity` is the claim headers the gateway adds: callers the upstream would tell apart by them
 * never share, public route or not.
 */
export function requestKey(
  method: string,
  host: string,
  pathAndQuery: string,
  varied: VaryValues,
  identity: HeaderPairs | null | undefined,
): string {
  let key = method + SEPARATOR + host + SEPARATOR + pathAndQuery;
  for (const [, value] of varied) key += SEPARATOR + (value ?? SEPARATOR);
  if (identity) for (const [name, value] of identity) key += SEPARATOR + name + SEPARATOR + value;
  return key;
}

/**
 * The credentials a request carries, as one string; null when it carries none. A field counts in
 * every spelling an origin may read as a credential's name (x_api_key as X-Api-Key).
 */
export function credentialMaterial(headers: Headers, names: readonly string[]): string | null {
  let material: string | null = null;
  for (const [name, value] of headers) {
    if (names.includes(name.includes("_") ? foldedName(name) : name)) material = (material ?? "") + name + SEPARATOR + value + SEPARATOR;
  }
  return material;
}

/** A SHA-256 of the credential, so the table of in-flight keys never holds a secret. */
export function credentialDigest(material: string): Promise<string> {
  return sha256Hex(material, 16);
}
