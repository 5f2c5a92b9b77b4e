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

/**
 * What a header value carries byte for byte (RFC 9110 section 5.5): printable ASCII, with spaces and
 * tabs only inside. Leading or trailing ones are not part of a field value: the runtime trims them,
 * so " alice " would arrive as "alice". Anything outside printable ASCII would need encoding.
 */
const VERBATIM_HEADER_VALUE = /^[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?$/;
/**
 * An element of a list claim: as above, and without `,` or `"`, which a list-based field uses as
 * delimiters (RFC 9110 section 5.6.1): ["viewer, admin"] would otherwise read as two roles.
 */
const VERBATIM_LIST_ELEMENT = /^[\x21\x23-\x2b\x2d-\x7e](?:[\t\x20\x21\x23-\x2b\x2d-\x7e]*[\x21\x23-\x2b\x2d-\x7e])?$/;
const MAX_CLAIM_HEADER_BYTES = 4_096;

/** A scalar claim as text, or undefined when the text would not be the claim itself. */
function scalarText(claim: unknown, verbatim: RegExp): string | undefined {
  if (typeof claim === "string") return verbatim.test(claim) ? claim : undefined;
  if (typeof claim === "boolean") return String(claim);
  // JSON integers past 2^53 were rounded when the token was parsed: their text is not the issuer's.
  if (typeof claim === "number" && Number.isFinite(claim) && (Number.isSafeInteger(claim) || !Number.isInteger(claim))) {
    return String(claim);
  }
  return undefined;
}

/**
 * A claim rendered as an upstream header value: a string as it is, a number or boolean as text, a
 * non-empty flat array of those joined with ", ". Whatever the upstream would not receive byte for
 * byte gives undefined, and the header is left out rather than sent altered: other types, empty
 * strings, leading or trailing spaces or tabs, control characters, non-ASCII, integers past 2^53,
 * list elements holding `,` or `"`, and values over 4096 bytes.
 */
export function claimHeaderValue(claim: unknown): string | undefined {
  let text: string | undefined;
  if (Array.isArray(claim)) {
    if (claim.length === 0) return undefined;
    text = "";
    for (let i = 0; i < claim.length; i++) {
      const item = scalarText(claim[i], VERBATIM_LIST_ELEMENT);
      if (item === undefined) return undefined;
      text += i === 0 ? item : `, ${item}`;
    }
  } else {
    text = scalarText(claim, VERBATIM_HEADER_VALUE);
  }
  return text !== undefined && text.length <= MAX_CLAIM_HEADER_BYTES ? text : undefined;
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
