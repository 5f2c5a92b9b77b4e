/**
 * WebSocket handshake and close rules (RFC 6455), as pure functions: what a handshake is, which of
 * its fields belong to one connection, and which close code can be passed on to the other side.
 */

/**
 * Whether a request asks for a WebSocket: a GET whose Upgrade lists `websocket` (RFC 6455 section
 * 4.1; RFC 9110 section 7.8: a comma-separated list of protocol names, each with an optional
 * version, compared case-insensitively). Connection is not required: the runtime may have consumed
 * it, as a hop-by-hop field.
 */
export function asksForWebSocket(method: string, upgrade: string | null): boolean {
  if (upgrade === null || method !== "GET") return false;
  for (const item of upgrade.split(",")) {
    const protocol = item.trim().toLowerCase();
    if (protocol === "websocket" || protocol.startsWith("websocket/")) return true;
  }
  return false;
}

/**
 * Handshake fields of one connection: the key and its accept value, the version, and the
 * extensions (permessage-deflate) negotiated for that connection's frames (RFC 6455 sections 4.1,
 * 9.1). The gateway ends the client's connection and opens its own to the target, so the runtime
 * negotiates these on each leg; the subprotocol (Sec-WebSocket-Protocol) is the application's, and
 * passes both ways.
 */
export const PER_CONNECTION_FIELDS: readonly string[] = [
  "sec-websocket-key",
  "sec-websocket-accept",
  "sec-websocket-version",
  "sec-websocket-extensions",
];

/** The close code the gateway sends when one side went away without a close frame of its own. */
export const ABNORMAL_CLOSE_SENT = 1011;

/** Close codes never sent in a close frame (RFC 6455 section 7.4.1): they only describe what happened. */
const NEVER_SENT = new Set([1004, 1005, 1006, 1015]);

/**
 * What to send the other side when one side closed with `code`: the same code where a close frame
 * may carry it; no code where the side sent none (1005); 1011 where the connection broke off (1006,
 * 1015) or the code is not one an endpoint may send.
 */
export function forwardedClose(code: number): number | null {
  if (code === 1005) return null;
  if (code < 1000 || code >= 5000 || NEVER_SENT.has(code)) return ABNORMAL_CLOSE_SENT;
  return code;
}

/** Bytes of the UTF-8 form of `text`, computed only when its length alone cannot settle `limit`. */
export function exceedsBytes(data: string | ArrayBuffer, limit: number): boolean {
  if (typeof data !== "string") return data.byteLength > limit;
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes (a surrogate pair, 2 units, is 4 bytes).
  if (data.length > limit) return true;
  if (data.length * 3 <= limit) return false;
  return new TextEncoder().encode(data).byteLength > limit;
}
