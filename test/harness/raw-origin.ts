/**
 * An origin that reads HTTP/1.1 off the socket itself, for tests where only the wire shows the
 * truth: whether a request arrived complete (its Content-Length reached, or its last chunk read)
 * or was cut off by a closed connection, and what framing it came with. It also answers the way
 * broken upstreams do. Runs in Node; tests read what it saw directly.
 */
import { type AddressInfo, createServer, type Server, Socket } from "node:net";

/** One request as it arrived on the wire. */
export interface WireRequest {
  method: string;
  target: string;
  headers: Record<string, string>;
  /** The body bytes read, de-chunked. */
  body: Buffer;
  /** True when the framing ended the request; false when the connection closed first. */
  complete: boolean;
}

export interface RawOrigin {
  port: number;
  url: string;
  requests: WireRequest[];
  close(): Promise<void>;
}

/** Parses as much of a chunked body as `data` holds: the bytes, and whether the last chunk was read. */
function dechunk(data: Buffer): { body: Buffer; done: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", at);
    if (lineEnd === -1) return { body: Buffer.concat(parts), done: false };
    const size = Number.parseInt(data.subarray(at, lineEnd).toString("latin1").split(";")[0] as string, 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), done: false };
    // The last chunk, then the (empty) trailer section's blank line.
    if (size === 0) return { body: Buffer.concat(parts), done: data.indexOf("\r\n\r\n", lineEnd) !== -1 };
    const start = lineEnd + 2;
    if (data.length < start + size + 2) {
      parts.push(data.subarray(start, Math.min(data.length, start + size)));
      return { body: Buffer.concat(parts), done: false };
    }
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

function answer(socket: Socket, request: WireRequest): void {
  if (request.target.startsWith("/status-999")) {
    socket.end("HTTP/1.1 999 Whatever\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
  } else if (request.target.startsWith("/unasked-upgrade")) {
    socket.end("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
  } else {
    const body = JSON.stringify({ method: request.method, target: request.target, bytes: request.body.length });
    socket.end(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
}

/** Starts the origin on a free loopback port. It answers once a request is complete, then closes the connection. */
export async function startRawOrigin(): Promise<RawOrigin> {
  const requests: WireRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let data = Buffer.alloc(0);
    let current: WireRequest | null = null;
    const update = () => {
      const headEnd = data.indexOf("\r\n\r\n");
      if (headEnd === -1) return;
      const lines = data.subarray(0, headEnd).toString("latin1").split("\r\n");
      const [method = "", target = ""] = (lines[0] as string).split(" ");
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = data.subarray(headEnd + 4);
      let body: Buffer;
      let complete: boolean;
      if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
        const parsed = dechunk(rest);
        body = parsed.body;
        complete = parsed.done;
      } else {
        const length = Number(headers["content-length"] ?? 0);
        body = rest.subarray(0, length);
        complete = rest.length >= length;
      }
      if (current === null) {
        current = { method, target, headers, body, complete };
        requests.push(current);
      } else {
        current.body = body;
        current.complete = complete;
      }
      if (complete) answer(socket, current);
    };
    socket.on("data", (chunk: Buffer) => {
      if (current?.complete) return;
      data = Buffer.concat([data, chunk]);
      update();
    });
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw exchange with a server: writes `parts` (pausing between them), returns everything read until the server closes or `waitMs` passes. */
export function rawExchange(
  port: number,
  parts: Array<string | Buffer>,
  options: { gapMs?: number; waitMs?: number; endWrite?: boolean } = {},
): Promise<string> {
  const { gapMs = 10, waitMs = 3_000, endWrite = false } = options;
  return new Promise((resolve) => {
    const socket = new Socket();
    let out = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, waitMs);
    socket.on("data", (chunk: Buffer) => (out += chunk.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", done);
    socket.connect(port, "127.0.0.1", async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (socket.destroyed) return;
        socket.write(typeof part === "string" ? Buffer.from(part, "latin1") : part);
      }
      if (endWrite) socket.end();
    });
  });
}

/** The status, headers and body of a raw HTTP/1.1 response. */
export function parseResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const headEnd = raw.indexOf("\r\n\r\n");
  const head = headEnd === -1 ? raw : raw.slice(0, headEnd);
  const lines = head.split("\r\n");
  const status = Number((lines[0] ?? "").split(" ")[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: headEnd === -1 ? "" : raw.slice(headEnd + 4) };
}
