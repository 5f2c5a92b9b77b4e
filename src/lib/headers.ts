/**
 * Header rules for proxying. Pure functions over `Headers`: which fields are hop-by-hop, which the
 * gateway owns, and what it forwards.
 */

import { withoutCookie } from "./credentials.ts";

/**
 * Hop-by-hop fields (RFC 9110 section 7.6.1) describe one connection and must not be forwarded.
 * Proxy-Connection is the legacy spelling some clients still send.
 */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"]);

/** Fields the gateway sets itself from what it saw; client-sent values are never trusted. */
const FORWARDING = new Set(["forwarded", "x-real-ip"]);

/** Set by the gateway from its own view of the request; a client's copy is dropped. */
const GATEWAY_OWNED = new Set(["x-request-id", "traceparent", "tracestate"]);

/**
 * The gateway's own field names (X-Edgegate-Mirror marks a mirror's copy): an origin that acts on
 * one must be able to trust that the gateway wrote it, so every client field in this namespace is
 * dropped, in any spelling.
 */
const GATEWAY_PREFIX = "x-edgegate-";

/** Marks a request as the mirror's copy, so the mirror's origin can tell copies from real traffic. */
export const MIRROR_MARKER = "x-edgegate-mirror";

/** With an allowlist, these still pass: they describe the body, without which it cannot be read. */
const BODY_FRAMING = new Set(["content-type", "content-length", "content-encoding"]);

/**
 * A field name as CGI-style origins read it (CGI, WSGI, PHP, Rack: HTTP_X_USER_ID): `_` and `-` alike.
 * The name is lower-case already (Headers iterates lower-case names).
 */
export function foldedName(name: string): string {
  return name.replaceAll("_", "-");
}

/** True for a hop-by-hop field name (lower-case), including every Proxy-* field. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith("proxy-");
}

/** The field names a Connection header lists (RFC 9110 section 7.6.1), lower-case. */
function connectionNamed(headers: Headers): Set<string> | null {
  const connection = headers.get("connection");
  if (!connection) return null;
  const names = new Set<string>();
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/**
 * Fields the platform sets from its own view of the connection (Cloudflare's CF-*, True-Client-IP,
 * CDN-Loop). They reach the origin as the platform wrote them, so a client field that folds onto
 * one of them is a forgery an origin would read next to the real one.
 */
function platformSet(name: string): boolean {
  return name.startsWith("cf-") || name === "true-client-ip" || name === "cdn-loop";
}

/** Whether a client field of this (lower-case, folded) name is never forwarded: the gateway drops or sets it. */
function dropped(name: string, named: ReadonlySet<string> | null, strip: ReadonlySet<string> | null): boolean {
  return (
    isHopByHop(name) ||
    FORWARDING.has(name) ||
    name.startsWith("x-forwarded-") ||
    GATEWAY_OWNED.has(name) ||
    name.startsWith(GATEWAY_PREFIX) ||
    named?.has(name) === true ||
    strip?.has(name) === true
  );
}

/** Whether an underscore spelling, folded, names a field the gateway or the platform sets or strips. */
function foldsOntoOwn(folded: string, named: ReadonlySet<string> | null, strip: ReadonlySet<string> | null): boolean {
  return dropped(folded, named, strip) || platformSet(folded);
}

/** What the gateway knows about the client connection, from the platform rather than the client. */
export interface ClientFacts {
  /** From CF-Connecting-IP; null where the platform gave none (some local runs). */
  ip: string | null;
  /** "http" or "https", from the URL the gateway was reached on. */
  proto: string;
  /** The Host the client asked for. */
  host: string;
}

/** RFC 7239 section 6: IPv6 nodes are bracketed and quoted; unknown ones use the "unknown" token. */
function forwardedNode(ip: string | null): string {
  if (ip === null) return "unknown";
  return ip.includes(":") ? `"[${ip}]"` : ip;
}

function forwardedValue(text: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text) ? text : `"${text.replace(/["\\]/g, "\\$&")}"`;
}

export interface UpstreamHeaderOptions {
  /** Lower-case names that may reach the upstream; null forwards everything else. */
  allow: ReadonlySet<string> | null;
  /**
   * Lower-case names never forwarded from the client (credentials, identity headers the gateway sets),
   * folded (`_` as `-`, see foldedName): every spelling an origin reads as one of them is stripped.
   */
  strip: ReadonlySet<string> | null;
  /** A cookie removed from the Cookie header (a credential that must not reach the upstream). */
  stripCookie: string | null;
  /** Added after the client's fields and never subject to `allow`: the gateway's own (forwarded claims). */
  extra: HeaderPairs | null;
  /**
   * The route's policies' edits (set-headers, remove-headers, a user policy's request): fields set
   * after the client's, and fields removed (lower-case, folded). A policy never sets what the
   * gateway or the platform sets (forwarding, hop-by-hop, request id and trace, X-Edgegate-*, CF-*)
   * nor a forwarded claim, in any spelling; those of its sets are passed over.
   */
  policy: { set: HeaderPairs; remove: ReadonlySet<string> } | null;
  requestId: string;
  traceparent: string;
  tracestate: string | null;
}

/** Header fields as name/value pairs: what fetch() and Response take without a Headers object. */
export type HeaderPairs = Array<[string, string]>;

/**
 * Builds the upstream request headers: hop-by-hop fields dropped, client-sent forwarding fields
 * replaced by the gateway's own (X-Forwarded-For is not appended to: a client could otherwise
 * plant any address in front of its real one), the allowlist applied, request id and trace context set.
 * A native copy of the client's fields, edited in place: in workerd that measured cheaper than
 * building the fields as JS name/value pairs, whose conversion back into headers costs more than
 * the few edits a request needs.
 */
export function upstreamRequestHeaders(incoming: Headers, client: ClientFacts, options: UpstreamHeaderOptions): Headers {
  const { allow, strip, stripCookie, policy } = options;
  const named = connectionNamed(incoming);
  const out = new Headers(incoming);
  for (const name of incoming.keys()) {
    if (
      (allow !== null && !allow.has(name) && !BODY_FRAMING.has(name)) ||
      dropped(name, named, strip) ||
      // An origin that folds `_` into `-` would read x_user_id as X-User-Id: a client spelling of a
      // field the gateway sets or strips goes too. Names without `_` (nearly all) cost one scan.
      (name.includes("_") && foldsOntoOwn(foldedName(name), named, strip)) ||
      policy?.remove.has(name.includes("_") ? foldedName(name) : name)
    ) {
      out.delete(name);
    }
  }
  if (stripCookie !== null) {
    const cookie = out.get("cookie");
    if (cookie !== null) {
      const rest = withoutCookie(cookie, stripCookie);
      if (rest === "") out.delete("cookie");
      else out.set("cookie", rest);
    }
  }
  if (policy !== null) setPolicyFields(out, policy.set, named, options.extra);
  // Set, not appended: a forwarded claim is the claim, whatever a policy said before it.
  if (options.extra !== null) for (const [name, value] of options.extra) out.set(name, value);
  if (client.ip !== null) {
    out.set("x-forwarded-for", client.ip);
    out.set("x-real-ip", client.ip);
  }
  out.set("x-forwarded-proto", client.proto);
  out.set("x-forwarded-host", client.host);
  out.set("forwarded", `for=${forwardedNode(client.ip)};host=${forwardedValue(client.host)};proto=${client.proto}`);
  out.set("x-request-id", options.requestId);
  out.set("traceparent", options.traceparent);
  if (options.tracestate !== null) out.set("tracestate", options.tracestate);
  return out;
}

/** A policy's fields on the upstream request, but for those that fold onto a field the gateway or platform sets, or a forwarded claim. */
function setPolicyFields(out: Headers, fields: HeaderPairs, named: ReadonlySet<string> | null, claims: HeaderPairs | null): void {
  for (const [name, value] of fields) {
    const folded = foldedName(name.toLowerCase());
    if (dropped(folded, named, null) || platformSet(folded)) continue;
    if (claims?.some(([claim]) => foldedName(claim) === folded)) continue;
    out.set(name, value);
  }
}

/**
 * The client's response: the upstream's status and headers around `body`, hop-by-hop fields
 * dropped, request id set. The upstream's fields are copied natively (Set-Cookie fields stay
 * separate) and edited in place, for the same reason as the request's.
 */
export function downstreamResponse(upstream: Response, body: ReadableStream<Uint8Array> | null, requestId: string): Response {
  const response = new Response(body, upstream);
  const headers = response.headers;
  const named = connectionNamed(upstream.headers);
  for (const name of upstream.headers.keys()) {
    if (isHopByHop(name) || named?.has(name)) headers.delete(name);
  }
  headers.set("x-request-id", requestId);
  return response;
}
