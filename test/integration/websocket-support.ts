/**
 * Helpers for the WebSocket tests: a config routing /ws/* to the test's WebSocket origin
 * (test/harness/ws-origin.ts), a client that opens a socket through the gateway and waits on its
 * messages and close, and what the origin saw of a connection.
 */
import { inject } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { gateway } from "../support.ts";

type RouteInput = GatewayConfigInput["routes"][number];
type ClusterInput = GatewayConfigInput["clusters"][string];

export const wsOrigin = `http://127.0.0.1:${inject("wsOriginPort")}`;

/** The body the origin's refusals carry (test/harness/ws-origin.ts REFUSAL_BODY): never relayed. */
export const REFUSAL_BODY_FOR_TESTS = "upstream-internal-refusal-detail";

/** One route, /ws/*, to the WebSocket origin, with upgrades on unless the route says otherwise. */
export function wsConfig(
  route: Partial<RouteInput> = {},
  cluster: Partial<ClusterInput> = {},
  extra: Partial<GatewayConfigInput> = {},
): GatewayConfigInput {
  return {
    clusters: { ws: { targets: [{ url: wsOrigin }], ...cluster } },
    routes: [{ id: `ws-${crypto.randomUUID().slice(0, 8)}`, match: { path: "/ws/*" }, cluster: "ws", websocket: {}, ...route }],
    ...extra,
  };
}

/** A fresh connection id: the origin keeps what it saw of each under it. */
export function connectionId(): string {
  return crypto.randomUUID();
}

export interface CloseSeen {
  code: number;
  reason: string;
}

/** The client's side of a socket opened through the gateway. */
export class TestClient {
  readonly socket: WebSocket;
  readonly closed: Promise<CloseSeen>;
  private readonly queue: Array<string | ArrayBuffer> = [];
  private waiting: ((data: string | ArrayBuffer) => void) | null = null;

  constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason }));
    });
    socket.addEventListener("message", (event) => {
      const data = event.data as string | ArrayBuffer;
      if (this.waiting !== null) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(data);
      } else this.queue.push(data);
    });
    socket.accept();
  }

  /** The next message, or a failure after `timeoutMs`. */
  next(timeoutMs = 5_000): Promise<string | ArrayBuffer> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message in time")), timeoutMs);
      this.waiting = (data) => {
        clearTimeout(timer);
        resolve(data);
      };
    });
  }

  /** The close the client got, or a failure after `timeoutMs`. */
  closeSeen(timeoutMs = 5_000): Promise<CloseSeen> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no close in time")), timeoutMs)),
    ]);
  }
}

/** Sends a WebSocket handshake through the gateway: the answer, and a client when it was upgraded. */
export async function handshake(
  path: string,
  init: { headers?: Record<string, string>; clientIp?: string } = {},
): Promise<{ response: Response; client: TestClient | null }> {
  const response = await gateway(path, { headers: { upgrade: "websocket", ...init.headers }, clientIp: init.clientIp });
  const socket = response.webSocket;
  return { response, client: socket === null ? null : new TestClient(socket) };
}

/** Opens a socket that must be upgraded. */
export async function connect(path: string, init: { headers?: Record<string, string>; clientIp?: string } = {}): Promise<TestClient> {
  const { response, client } = await handshake(path, init);
  if (response.status !== 101 || client === null) throw new Error(`expected 101, got ${response.status}: ${await response.text()}`);
  return client;
}

export interface OriginSeen {
  handshakes: number;
  headers: Record<string, string | undefined>;
  url: string | null;
  messages: number;
  closes: CloseSeen[];
}

/** What the WebSocket origin saw of connection `id`. */
export async function originSaw(id: string): Promise<OriginSeen> {
  return (await (await fetch(`${wsOrigin}/__control/ws?id=${encodeURIComponent(id)}`)).json()) as OriginSeen;
}

/** Polls the origin until it has seen a close of connection `id`. */
export async function originClose(id: string, timeoutMs = 5_000): Promise<CloseSeen> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const close = (await originSaw(id)).closes[0];
    if (close !== undefined) return close;
    if (Date.now() > until) throw new Error("the origin saw no close in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
