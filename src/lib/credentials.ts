/**
 * Finding credentials in a request and keeping them from the upstream. Pure functions over
 * header values and query strings.
 */

/** Where a route takes its bearer token from. */
export type TokenSource =
  | { kind: "authorization" }
  | { kind: "header"; name: string }
  | { kind: "cookie"; name: string }
  | { kind: "query"; name: string };

export type TokenFound = { kind: "none" } | { kind: "token"; token: string };

/** RFC 6750 section 2.1: `Bearer` (any case), one or more spaces, the token. */
const BEARER = /^Bearer +(\S+) *$/i;

/** The token from its configured source; any other shape counts as no token. */
export function findToken(source: TokenSource, headers: Headers, url: string): TokenFound {
  let token: string | null | undefined;
  switch (source.kind) {
    case "authorization":
      token = BEARER.exec(headers.get("authorization") ?? "")?.[1];
      break;
    case "header": {
      const value = headers.get(source.name)?.trim();
      token = value ? (BEARER.exec(value)?.[1] ?? value) : undefined;
      break;
    }
    case "cookie":
      token = cookieValue(headers.get("cookie"), source.name);
      break;
    case "query":
      token = queryValue(url, source.name);
      break;
  }
  return token ? { kind: "token", token } : { kind: "none" };
}

/** The value of cookie `name` in a Cookie header (RFC 6265 section 5.4), or undefined. */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** The Cookie header without cookie `name`; empty when nothing else is left. */
export function withoutCookie(header: string, name: string): string {
  return header
    .split(";")
    .filter((part) => {
      const eq = part.indexOf("=");
      return (eq === -1 ? part : part.slice(0, eq)).trim() !== name;
    })
    .map((part) => part.trim())
    .filter(Boolean)
    .join("; ");
}

function queryValue(url: string, name: string): string | undefined {
  const q = url.indexOf("?");
  if (q === -1) return undefined;
  const hash = url.indexOf("#", q);
  return new URLSearchParams(url.slice(q + 1, hash === -1 ? undefined : hash)).get(name) ?? undefined;
}

/** `query` ("" or "?...") without parameter `name`, other parameters left byte for byte. */
export function withoutQueryParam(query: string, name: string): string {
  if (query === "") return query;
  const kept = query
    .slice(1)
    .split("&")
    .filter((pair) => {
      const eq = pair.indexOf("=");
      const key = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = key;
      try {
        decoded = decodeURIComponent(key.replace(/\+/g, " "));
      } catch {
        // A malformed escape is not the credential's name; keep the pair as sent.
      }
      return decoded !== name;
    });
  return kept.length === 0 ? "" : `?${kept.join("&")}`;
}

/** Printable ASCII and tab: what a header value may hold without encoding (RFC 9110 section 5.5). */
const SAFE_HEADER_VALUE = /^[\t\x20-\x7e]*$/;
const MAX_CLAIM_HEADER_BYTES = 4_096;

/**
 * A claim rendered as an upstream header value: strings as they are, numbers and booleans as text,
 * arrays of those joined with ", ". Anything else, or a value that would need encoding, gives
 * undefined: the header is left out rather than sent mangled.
 */
export function claimHeaderValue(claim: unknown): string | undefined {
  let text: string;
  if (typeof claim === "string") text = claim;
  else if (typeof claim === "number" || typeof claim === "boolean") text = String(claim);
  else if (Array.isArray(claim) && claim.every((item) => ["string", "number", "boolean"].includes(typeof item))) text = claim.join(", ");
  else return undefined;
  return text.length <= MAX_CLAIM_HEADER_BYTES && SAFE_HEADER_VALUE.test(text) ? text : undefined;
}

/** The scopes a token grants: `scope` (space-separated, RFC 8693 section 4.2) and/or `scp` (string or array). */
export function grantedScopes(claims: Readonly<Record<string, unknown>>): Set<string> {
  const scopes = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === "string") for (const scope of value.split(" ")) if (scope) scopes.add(scope);
    if (Array.isArray(value)) for (const scope of value) if (typeof scope === "string" && scope) scopes.add(scope);
  };
  add(claims.scope);
  add(claims.scp);
  return scopes;
}
