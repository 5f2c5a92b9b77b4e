/**
 * Joins the client's WebSocket to the target's: every message is relayed to the other side, within
 * the route's message-size and idle limits, and a close on either side is passed on to the other
 * with its code and reason. The gateway holds the two connections itself (the runtime ends the
 * client's at the Worker and opens its own to the target), so nothing but messages and closes
 * crosses between them.
 */
import { exceedsBytes, forwardedClose } from "../../lib/websocket/handshake.ts";

export interface RelayLimits {
  maxMessageBytes: number;
  idleTimeoutMs: number;
}

/** Who ended a relayed connection: one of its sides, or the gateway for one of its limits. */
export type RelayEndedBy = "client" | "upstream" | "idle-timeout" | "message-too-large";

export interface RelaySummary {
  endedBy: RelayEndedBy;
  /** The close code that ended it: the side's own (1005 when it sent none, 1006 when it broke off), or the gateway's. */
  closeCode: number;
  messagesFromClient: number;
  messagesFromUpstream: number;
  durationMs: number;
}

/** RFC 6455 section 7.4.1: 1009, a message too big to process; 1001, going away. */
const TOO_LARGE = 1009;
const GOING_AWAY = 1001;

/** Sends a close frame, if the socket can still send one; a code it may not send becomes 1011. */
function closeQuietly(socket: WebSocket, code: number | null, reason: string): void {
  try {
    if (code === null) socket.close();
    else socket.close(code, reason);
  } catch {
    try {
      socket.close(1011);
    } catch {
      // Already closed: nothing left to tell it.
    }
  }
}

/**
 * Accepts both sockets and relays between them until either closes. `client` is the gateway's end
 * of the pair whose other end went to the client; `upstream` is the target's socket from the
 * handshake's response. `ended` is called once, when the first close, error or limit ends it.
 */
export function joinSockets(client: WebSocket, upstream: WebSocket, limits: RelayLimits, ended: (summary: RelaySummary) => void): void {
  const startedAt = Date.now();
  let lastMessageAt = startedAt;
  const counts = { client: 0, upstream: 0 };
  let done = false;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;

  const finish = (endedBy: RelayEndedBy, closeCode: number) => {
    if (done) return false;
    done = true;
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    ended({
      endedBy,
      closeCode,
      messagesFromClient: counts.client,
      messagesFromUpstream: counts.upstream,
      durationMs: Date.now() - startedAt,
    });
    return true;
  };

  const closeBoth = (code: number, reason: string) => {
    closeQuietly(client, code, reason);
    closeQuietly(upstream, code, reason);
  };

  const wire = (from: WebSocket, to: WebSocket, side: "client" | "upstream") => {
    // ArrayBuffer, not Blob: its size is known without reading it, and it is sent on as it came.
    from.binaryType = "arraybuffer";
    from.addEventListener("message", (event) => {
      if (done) return;
      const data = event.data as string | ArrayBuffer;
      lastMessageAt = Date.now();
      counts[side]++;
      if (exceedsBytes(data, limits.maxMessageBytes)) {
        finish("message-too-large", TOO_LARGE);
        closeBoth(TOO_LARGE, "message over the gateway's size limit");
        return;
      }
      try {
        to.send(data);
      } catch {
        // The other side is closing: its close event ends the relay.
      }
    });
    from.addEventListener("close", (event) => {
      // The peer's answer to a close the gateway sent: the relay has already ended.
      if (!finish(side, event.code)) return;
      const code = forwardedClose(event.code);
      // A code passed on keeps its reason; one the gateway had to choose says what happened.
      const reason = code === event.code ? event.reason : `${side} connection lost`;
      closeQuietly(to, code, reason);
      // Completes this side's closing handshake where the runtime has not answered it already.
      closeQuietly(from, code, reason);
    });
    from.addEventListener("error", () => {
      if (!finish(side, 1006)) return;
      closeQuietly(to, 1011, `${side} connection lost`);
    });
  };

  wire(client, upstream, "client");
  wire(upstream, client, "upstream");

  // One timer, re-armed for the remaining time when it fires, rather than reset on every message.
  const checkIdle = () => {
    const idleMs = Date.now() - lastMessageAt;
    if (idleMs >= limits.idleTimeoutMs) {
      if (finish("idle-timeout", GOING_AWAY)) closeBoth(GOING_AWAY, "idle timeout");
      return;
    }
    idleTimer = setTimeout(checkIdle, limits.idleTimeoutMs - idleMs);
  };
  idleTimer = setTimeout(checkIdle, limits.idleTimeoutMs);

  // Half-open: the gateway answers each side's close itself, once it has passed it on.
  client.accept({ allowHalfOpen: true });
  upstream.accept({ allowHalfOpen: true });
}
