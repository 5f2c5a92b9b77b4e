/**
 * The server side of a WebSocket (RFC 6455) over a Node HTTP upgrade: the handshake, and framing
 * of text, binary, ping, pong and close messages. Small on purpose: the demo origin and the test
 * origins need an echo server whose every close and frame they control, and no dependency.
 * Extensions (compression) are never negotiated.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Larger messages fail the connection with 1009; the origins here never need more. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export interface WebSocketHandlers {
  message?: (data: string | Buffer) => void;
  /** Once: the peer's close code (1005 when it sent none, 1006 when the connection broke off) and reason. */
  close?: (code: number, reason: string) => void;
}

/** One accepted server-side WebSocket. */
export class ServerWebSocket {
  readonly protocol: string | null;
  private readonly socket: Duplex;
  private readonly handlers: WebSocketHandlers = {};
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private closeSent = false;
  private closed = false;

  /** `head`: bytes the client sent after its handshake, already read off the socket. */
  constructor(socket: Duplex, protocol: string | null, head: Buffer) {
    this.socket = socket;
    this.protocol = protocol;
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("close", () => this.ended(1006, ""));
    socket.on("error", () => this.ended(1006, ""));
    // Handlers are set by the caller after this returns: the first frames wait for them.
    if (head.length > 0) queueMicrotask(() => this.receive(head));
  }

  on<K extends keyof WebSocketHandlers>(event: K, handler: NonNullable<WebSocketHandlers[K]>): this {
    this.handlers[event] = handler as WebSocketHandlers[K];
    return this;
  }

  send(data: string | Buffer): void {
    if (this.closeSent) return;
    this.frame(typeof data === "string" ? OP_TEXT : OP_BINARY, typeof data === "string" ? Buffer.from(data) : data);
  }

  /** Starts the closing handshake: the peer's answer ends the connection. */
  close(code?: number, reason = ""): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.frame(OP_CLOSE, code === undefined ? Buffer.alloc(0) : closePayload(code, reason));
  }

  /** Drops the TCP connection without a close frame, as a crashed server would. */
  drop(): void {
    this.socket.destroy();
  }

  private ended(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.close?.(code, reason);
    this.socket.destroy();
  }

  private frame(opcode: number, payload: Buffer): void {
    const length = payload.length;
    const head = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    if (length < 126) head[1] = length;
    else if (length < 65536) {
      head[1] = 126;
      head.writeUInt16BE(length, 2);
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(length), 2);
    }
    if (!this.socket.destroyed) this.socket.write(Buffer.concat([head, payload]));
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const buf = this.buffered;
      if (buf.length < 2) return;
      const fin = ((buf[0] as number) & 0x80) !== 0;
      const opcode = (buf[0] as number) & 0x0f;
      const masked = ((buf[1] as number) & 0x80) !== 0;
      let length = (buf[1] as number) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buf.length < 4) return;
        length = buf.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buf.length < 10) return;
        const long = buf.readBigUInt64BE(2);
        if (long > BigInt(MAX_MESSAGE_BYTES)) {
          this.fail(1009);
          return;
        }
        length = Number(long);
        offset = 10;
      }
      // RFC 6455 section 5.1: a client masks every frame it sends.
      if (!masked) {
        this.fail(1002);
        return;
      }
      if (buf.length < offset + 4 + length) return;
      const mask = buf.subarray(offset, offset + 4);
      const payload = Buffer.from(buf.subarray(offset + 4, offset + 4 + length));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
      this.buffered = buf.subarray(offset + 4 + length);
      this.handle(fin, opcode, payload);
      if (this.closed) return;
    }
  }

  private handle(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        this.frame(OP_PONG, payload);
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.length > 2 ? payload.subarray(2).toString("utf8") : "";
        // Echo the peer's close (RFC 6455 section 5.5.1), then the connection is over.
        if (!this.closeSent) {
          this.closeSent = true;
          this.frame(OP_CLOSE, payload.length >= 2 ? payload.subarray(0, 2) : Buffer.alloc(0));
        }
        this.socket.end();
        this.ended(code, reason);
        return;
      }
      case OP_TEXT:
      case OP_BINARY:
      case OP_CONTINUATION: {
        if (opcode !== OP_CONTINUATION) this.fragmentOpcode = opcode;
        this.fragments.push(payload);
        if (!fin) return;
        const whole = Buffer.concat(this.fragments);
        this.fragments = [];
        this.handlers.message?.(this.fragmentOpcode === OP_TEXT ? whole.toString("utf8") : whole);
        return;
      }
      default:
        this.fail(1002);
    }
  }

  private fail(code: number): void {
    this.close(code);
    this.socket.end();
    this.ended(code, "");
  }
}

function closePayload(code: number, reason: string): Buffer {
  const text = Buffer.from(reason);
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/**
 * Completes a WebSocket handshake on an HTTP upgrade, choosing the first of `protocols` the client
 * offered; null (having answered 400) when the request is not a valid handshake.
 */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocols: readonly string[] = [],
): ServerWebSocket | null {
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || (req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
    socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    return null;
  }
  const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  const protocol = protocols.find((p) => offered.includes(p)) ?? null;
  const accept = createHash("sha1")
    .update(key + GUID)
    .digest("base64");
  const lines = ["HTTP/1.1 101 Switching Protocols", "upgrade: websocket", "connection: Upgrade", `sec-websocket-accept: ${accept}`];
  if (protocol !== null) lines.push(`sec-websocket-protocol: ${protocol}`);
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  return new ServerWebSocket(socket, protocol, head);
}
