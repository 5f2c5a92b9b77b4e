/**
 * A route's `websocket` block: the schema, the compiled form, the compile step and its checks. An
 * object turns WebSocket upgrades on for the route; without one, a route refuses them (403
 * `websocket-not-enabled`). Limits and their reasoning: docs/websockets.md.
 */
import * as v from "valibot";
import { type ConfigIssue, described, type IssueAt, integer } from "../config/fields.ts";

/**
 * The Workers runtime closes a WebSocket whose received message is over 1 MiB (1009) before the
 * gateway sees it, so a larger gateway limit could never take effect.
 */
export const RUNTIME_MAX_MESSAGE_BYTES = 1024 * 1024;

export const websocketSchema = v.strictObject(
  {
    maxMessageBytes: v.optional(
      described(
        integer(1, RUNTIME_MAX_MESSAGE_BYTES),
        "Largest message relayed either way, in bytes (at most 1 MiB, the Workers runtime's own limit); a larger one closes both sides with 1009.",
      ),
      RUNTIME_MAX_MESSAGE_BYTES,
    ),
    idleTimeoutSec: v.optional(
      described(
        integer(1, 86_400),
        "Seconds without a message either way after which the gateway closes both sides with 1001 (at most a day).",
      ),
      300,
    ),
  },
  "must be an object ({} for the defaults)",
);

export type WebSocketConfig = v.InferOutput<typeof websocketSchema>;

export interface CompiledWebSocket {
  maxMessageBytes: number;
  idleTimeoutMs: number;
}

export function compileWebSocket(config: WebSocketConfig): CompiledWebSocket {
  return { maxMessageBytes: config.maxMessageBytes, idleTimeoutMs: config.idleTimeoutSec * 1000 };
}

/** What of the route the websocket block is checked against. */
interface RouteFacts {
  match: { methods?: readonly string[] | undefined };
  coalesce?: unknown;
  cache?: unknown;
}

/**
 * A handshake is a GET (RFC 6455 section 4.1), so the route must serve GET; and it is one caller's
 * connection, never shared or stored, so it cannot sit on a route that coalesces or caches its GETs
 * (those stages run before the handshake's and would answer it with another request's response).
 */
export function websocketIssues(route: RouteFacts, at: IssueAt, issues: ConfigIssue[]): void {
  const methods = route.match.methods;
  if (methods !== undefined && !methods.includes("GET")) {
    issues.push({ path: at(".websocket"), message: "needs a route that serves GET: a WebSocket handshake is a GET request" });
  }
  if (route.coalesce !== undefined) {
    issues.push({ path: at(".websocket"), message: "cannot be combined with coalesce: a WebSocket connection is never shared" });
  }
  if (route.cache !== undefined) {
    issues.push({ path: at(".websocket"), message: "cannot be combined with cache: a WebSocket connection is never served from a store" });
  }
}
