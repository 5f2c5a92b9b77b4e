/**
 * A real WebSocket origin for integration tests, run in Node by the global setup. Each connection
 * names itself with `?id=`; `/__control/ws?id=` tells a test what the origin saw of it.
 *
 * - `/ws/echo`: echoes every message; the text `close:<code>:<reason>` makes it close with that
 *   code, `drop` makes it drop the connection without a close frame, `big:<n>` makes it send n bytes.
 *   It speaks the subprotocols `chat.v2` and `chat`, whichever the client offers first in that order.
 * - `/ws/refuse`: answers the handshake 403 with a body of its own; `/ws/plain`: 200, as a server
 *   that does not speak WebSocket there; `/ws/broken`: 503.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { acceptWebSocket } from "../../scripts/lib/websocket-server.ts";

/** A body no client may ever see: the gateway must not relay a refusing target's answer. */
export const REFUSAL_BODY = "upstream-internal-refusal-detail";

interface Seen {
  /** Handshakes that reached the origin, upgraded or not. */
  handshakes: number;
  /** The request fields of the last handshake. */
  headers: Record<string, string | string[] | undefined>;
  /** The path and query of the last handshake. */
  url: string | null;
  messages: number;
  /** The gateway's close of each connection: its code and reason. */
  closes: Array<{ code: number; reason: string }>;
}

function seenFor(state: Map<string, Seen>, id: string): Seen {
  let seen = state.get(id);
  if (seen === undefined) {
    seen = { handshakes: 0, headers: {}, url: null, messages: 0, closes: [] };
    state.set(id, seen);
  }
  return seen;
}

function refuseRaw(socket: Duplex, status: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export async function startWsOrigin(): Promise<{ server: Server; port: number }> {
  const state = new Map<string, Seen>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://ws-origin.test");
    if (url.pathname === "/__control/ws") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify(seenFor(state, url.searchParams.get("id") ?? "")));
    }
    // A handshake that arrived without its Upgrade: counted, and answered as a plain request.
    seenFor(state, url.searchParams.get("id") ?? "").handshakes++;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("not a websocket request");
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://ws-origin.test");
    const seen = seenFor(state, url.searchParams.get("id") ?? "");
    seen.handshakes++;
    seen.headers = req.headers;
    seen.url = req.url ?? null;
    if (url.pathname === "/ws/refuse") return refuseRaw(socket, "403 Forbidden", REFUSAL_BODY);
    if (url.pathname === "/ws/plain") return refuseRaw(socket, "200 OK", REFUSAL_BODY);
    if (url.pathname === "/ws/broken") return refuseRaw(socket, "503 Service Unavailable", REFUSAL_BODY);
    const ws = acceptWebSocket(req, socket, head, ["chat.v2", "chat"]);
    if (ws === null) return;
    ws.on("close", (code, reason) => seen.closes.push({ code, reason }));
    ws.on("message", (data) => {
      seen.messages++;
      if (typeof data === "string") {
        const close = /^close:(\d+):(.*)$/.exec(data);
        if (close) return ws.close(Number(close[1]), close[2]);
        if (data === "drop") return ws.drop();
        const big = /^big:(\d+)$/.exec(data);
        if (big) return ws.send("x".repeat(Number(big[1])));
      }
      ws.send(data);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
