/**
 * What makes two requests "the same read" for coalescing: method, host, path and query, the headers
 * the route says the answer varies on, and (unless the route's answers are public) the caller's
 * credential. Pure; the stage hashes the credential part.
 */
import { sha256Hex } from "../digest.ts";

/** Request fields that carry a credential by convention, whatever the route's own auth says. */
const CONVENTIONAL_CREDENTIALS = ["authorization", "cookie", "x-api-key"] as const;

/** The credential-carrying request headers of a route: the conventional ones plus those its auth reads. */
export function credentialHeaders(routeHeaders: readonly string[]): readonly string[] {
  return [...new Set<string>([...CONVENTIONAL_CREDENTIALS, ...routeHeaders])];
}

// U+0000 cannot occur in a URL or a header value the runtime accepted, so the parts cannot run together.
const SEPARATOR = "\u0000";

/**
 * The key of a request without its credential: two requests with equal keys (and equal
 * credentials) would send the upstream the same read.
 */
export function requestKey(method: string, host: string, pathAndQuery: string, headers: Headers, varyHeaders: readonly string[]): string {
  let key = method + SEPARATOR + host + SEPARATOR + pathAndQuery;
  for (const name of varyHeaders) key += SEPARATOR + (headers.get(name) ?? SEPARATOR);
  return key;
}

/** The credentials a request carries, as one string; null when it carries none. */
export function credentialMaterial(headers: Headers, names: readonly string[]): string | null {
  let material: string | null = null;
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) material = (material ?? "") + name + SEPARATOR + value + SEPARATOR;
  }
  return material;
}

/** A SHA-256 of the credential, so the table of in-flight keys never holds a secret. */
export function credentialDigest(material: string): Promise<string> {
  return sha256Hex(material, 16);
}
