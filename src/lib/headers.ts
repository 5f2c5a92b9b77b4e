/**
 * Header rules for proxying. Pure functions over `Headers`: which fields are hop-by-hop, which the
 * gateway owns, and what it forwards.
 */

/**
 * Hop-by-hop fields (RFC 9110 section 7.6.1) describe one connection and must not be forwarded.
 * Proxy-Connection is the legacy spelling some clients still send.
 */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"]);

/** Fields the gateway sets itself from what it saw; client-sent values are never trusted. */
const FORWARDING = new Set(["forwarded", "x-real-ip"]);

/** With an allowlist, these still pass: they describe the body, without which it cannot be read. */
const BODY_FRAMING = new Set(["content-type", "content-length", "content-encoding"]);

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
 * Copies `source` without the fields `drop` picks, in one pass over it (each header access
 * crosses into the runtime, so the hot path reads the fields once).
 */
function copyWithout(source: Headers, drop: (name: string) => boolean): Headers {
  const headers = new Headers(source);
  const named = connectionNamed(source);
  const doomed: string[] = [];
  for (const name of source.keys()) {
    if (isHopByHop(name) || named?.has(name) || drop(name)) doomed.push(name);
  }
  for (const name of doomed) headers.delete(name);
  return headers;
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
  requestId: string;
  traceparent: string;
  tracestate: string | null;
}

/**
 * Builds the upstream request headers: hop-by-hop fields dropped, client-sent forwarding fields
 * replaced by the gateway's own (X-Forwarded-For is not appended to: a client could otherwise
 * plant any address in front of its real one), the allowlist applied, request id and trace context set.
 */
export function upstreamRequestHeaders(incoming: Headers, client: ClientFacts, options: UpstreamHeaderOptions): Headers {
  const allow = options.allow;
  const headers = copyWithout(
    incoming,
    (name) => FORWARDING.has(name) || name.startsWith("x-forwarded-") || (allow !== null && !allow.has(name) && !BODY_FRAMING.has(name)),
  );

  if (client.ip !== null) {
    headers.set("x-forwarded-for", client.ip);
    headers.set("x-real-ip", client.ip);
  }
  headers.set("x-forwarded-proto", client.proto);
  headers.set("x-forwarded-host", client.host);
  headers.set("forwarded", `for=${forwardedNode(client.ip)};host=${forwardedValue(client.host)};proto=${client.proto}`);
  headers.set("x-request-id", options.requestId);
  headers.set("traceparent", options.traceparent);
  if (options.tracestate !== null) headers.set("tracestate", options.tracestate);
  else headers.delete("tracestate");
  return headers;
}

/** Builds the client response headers from the upstream's: hop-by-hop fields dropped, request id set. */
export function downstreamResponseHeaders(upstream: Headers, requestId: string): Headers {
  const headers = copyWithout(upstream, () => false);
  headers.set("x-request-id", requestId);
  return headers;
}
