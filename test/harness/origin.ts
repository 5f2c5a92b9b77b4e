/**
 * A real HTTP origin for integration tests, run in Node by the global setup. Its endpoints play
 * the upstream behaviours the gateway must handle; `/__control/*` lets tests observe and steer it.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const CHUNK = Buffer.alloc(64 * 1024, "x");

/**
 * How a switchable backend answers: as a healthy, failing, hanging, resetting, refusing or slow
 * upstream, or a broken one (a status outside HTTP's range, a 101 nobody asked for).
 */
type BackendMode = "ok" | "error" | "hang" | "reset" | "refuse" | "slow" | "not-found" | "bad-status" | "unasked-upgrade";
const BACKEND_MODES = new Set<BackendMode>([
  "ok",
  "error",
  "hang",
  "reset",
  "refuse",
  "slow",
  "not-found",
  "bad-status",
  "unasked-upgrade",
]);

interface Backend {
  id: number;
  port: number;
  server: Server;
  mode: BackendMode;
  slowMs: number;
  hits: number;
  /** Sizes of the request bodies received complete, in order. */
  bodies: number[];
  listening: boolean;
}

interface OriginState {
  /** Extra upstreams tests create and switch between behaviours (breaker tests). */
  backends: Map<number, Backend>;
  hits: Map<string, number>;
  /** Bytes of a lock-step upload received so far, by id. */
  received: Map<string, number>;
  /** Lock-step downloads waiting for the client to confirm the first chunk, by id. */
  releases: Map<string, () => void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function bump(state: OriginState, key: string): number {
  const n = (state.hits.get(key) ?? 0) + 1;
  state.hits.set(key, n);
  return n;
}

/**
 * Reads a request body to its end. An upload the gateway tore down mid-body (as it does with a body
 * it stops) never ends: that resolves to null, and there is no one left to answer.
 */
async function drain(req: IncomingMessage, onChunk?: (total: number) => void): Promise<{ bytes: number; sha256: string } | null> {
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      onChunk?.(bytes);
    }
  } catch {
    return null;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Writes `bytes` of the deterministic pattern, respecting back-pressure. */
async function writePattern(res: ServerResponse, bytes: number): Promise<void> {
  let left = bytes;
  while (left > 0) {
    const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
    left -= piece.length;
    if (!res.write(piece)) await new Promise((resolve) => res.once("drain", resolve));
  }
}

function handle(state: OriginState, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", "http://origin.test");
  const q = url.searchParams;
  const key = q.get("key") ?? "";
  const route = url.pathname;

  if (route === "/__control/hits") return json(res, 200, { hits: state.hits.get(key) ?? 0 });
  if (route === "/__control/backends") {
    void Promise.all(Array.from({ length: Number(q.get("count") ?? 1) }, () => startBackend(state))).then((created) =>
      json(res, 200, { backends: created.map((b) => ({ id: b.id, port: b.port })) }),
    );
    return;
  }
  if (route === "/__control/backend") {
    const backend = state.backends.get(Number(q.get("id")));
    if (!backend) return json(res, 404, { error: "no such backend" });
    const mode = q.get("mode") as BackendMode | null;
    if (mode === null) return json(res, 200, { hits: backend.hits, mode: backend.mode, bodies: backend.bodies });
    if (!BACKEND_MODES.has(mode)) return json(res, 400, { error: "unknown mode" });
    void switchBackend(backend, mode, Number(q.get("ms") ?? 1000)).then(() => json(res, 200, { mode }));
    return;
  }
  if (route === "/__control/received") return json(res, 200, { bytes: state.received.get(q.get("id") ?? "") ?? 0 });
  if (route === "/__control/release") {
    state.releases.get(q.get("id") ?? "")?.();
    return json(res, 200, { released: true });
  }

  if (route.startsWith("/echo") || route.startsWith("/count")) {
    bump(state, key);
    void drain(req).then((received) => {
      if (received === null) return;
      const { bytes, sha256 } = received;
      json(
        res,
        200,
        { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: bytes, sha256 },
        {
          connection: "keep-alive, x-origin-private",
          "keep-alive": "timeout=5",
          "x-origin-private": "must not reach the client",
          "proxy-authenticate": "Basic",
        },
      );
    });
    return;
  }
  if (route === "/coalesce") {
    // A slow read that counts its hits and says which request it answered, so a test can tell
    // one shared answer from many. Query knobs set the headers that decide whether it may be shared.
    const hit = bump(state, key);
    const bytes = Number(q.get("bytes") ?? 0);
    const finish = () => {
      if (q.get("fail") === "reset") return req.socket.destroy();
      if (q.get("fail") === "hang") return;
      const headers: Record<string, string> = { "x-origin-hit": String(hit) };
      if (q.has("setCookie")) headers["set-cookie"] = `session=${hit}; HttpOnly`;
      if (q.has("cacheControl")) headers["cache-control"] = q.get("cacheControl") as string;
      if (q.has("vary")) headers.vary = q.get("vary") as string;
      if (q.has("cacheTag")) headers["cache-tag"] = q.get("cacheTag") as string;
      // Names fields as hop-by-hop: the gateway removes them from the answer (RFC 9110 section 7.6.1).
      if (q.has("connection")) headers.connection = q.get("connection") as string;
      if (bytes > 0) {
        res.writeHead(Number(q.get("status") ?? 200), { "content-type": "application/octet-stream", ...headers });
        void writePattern(res, bytes).then(() => res.end());
        return;
      }
      json(
        res,
        Number(q.get("status") ?? 200),
        {
          hit,
          key,
          authorization: req.headers.authorization ?? null,
          cookie: req.headers.cookie ?? null,
          lang: req.headers["accept-language"] ?? null,
          headers: req.headers,
        },
        headers,
      );
    };
    const timer = setTimeout(finish, Number(q.get("ms") ?? 200));
    res.on("close", () => clearTimeout(timer));
    return;
  }
  if (route === "/mirror-sink") {
    // Where mirrored copies land: counts them by key and remembers the size of the last body.
    bump(state, key);
    void drain(req).then((received) => {
      if (received === null) return;
      state.received.set(key, received.bytes);
      json(res, 200, { mirrored: true });
    });
    return;
  }
  if (route === "/slow") {
    bump(state, key);
    const timer = setTimeout(() => json(res, 200, { slow: true }), Number(q.get("ms") ?? 1000));
    res.on("close", () => clearTimeout(timer));
    return;
  }
  if (route === "/trickle") {
    if (key !== "") bump(state, key);
    res.writeHead(200, { "content-type": "text/plain" });
    let sent = 0;
    const chunks = Number(q.get("chunks") ?? 10);
    const timer = setInterval(
      () => {
        res.write(`chunk ${sent}\n`);
        if (++sent >= chunks) {
          clearInterval(timer);
          res.end();
        }
      },
      Number(q.get("intervalMs") ?? 100),
    );
    res.on("close", () => clearInterval(timer));
    return;
  }
  if (route === "/download") {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    void writePattern(res, Number(q.get("bytes") ?? 0)).then(() => res.end());
    return;
  }
  if (route === "/lockstep/download") {
    // First chunk, then nothing until the client says it has it: a gateway that buffers the
    // response never delivers that chunk, and the test stalls instead of passing.
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.write(CHUNK);
    state.releases.set(q.get("id") ?? "", () => void writePattern(res, Number(q.get("rest") ?? CHUNK.length)).then(() => res.end()));
    return;
  }
  if (route === "/lockstep/upload") {
    const id = q.get("id") ?? "";
    void drain(req, (total) => state.received.set(id, total)).then((result) => result && json(res, 200, result));
    return;
  }
  if (route === "/flaky") {
    // Fails the first `failures` hits of a key, by resetting the connection or with a status.
    const n = bump(state, key);
    if (n <= Number(q.get("failures") ?? 1)) {
      if (q.get("mode") === "reset") {
        req.socket.destroy();
        return;
      }
      return json(res, Number(q.get("status") ?? 503), { failed: n });
    }
    return json(res, 200, { ok: true, hit: n });
  }
  if (route.startsWith("/status/")) return json(res, Number(route.slice(8)), { status: Number(route.slice(8)) });
  if (route === "/redirect") {
    res.writeHead(302, { location: "http://elsewhere.test/target" });
    res.end();
    return;
  }
  json(res, 200, { path: route, url: req.url });
}

/**
 * Answers once the whole request is in, as origins do for their writes, and records the size of
 * every request body it received complete (an aborted upload never ends, so it is not recorded).
 */
function whenReceived(backend: Backend, req: IncomingMessage, answer: () => void): void {
  let bytes = 0;
  req.on("error", () => {}); // an upload torn down mid-body: nothing to answer
  req.on("data", (chunk: Buffer) => (bytes += chunk.length));
  req.once("end", () => {
    if (req.method !== "GET" && req.method !== "HEAD") backend.bodies.push(bytes);
    answer();
  });
}

function answerAsBackend(backend: Backend, req: IncomingMessage, res: ServerResponse) {
  backend.hits++;
  switch (backend.mode) {
    case "error":
      return whenReceived(backend, req, () => json(res, 500, { backend: backend.id, error: "internal" }));
    case "not-found":
      return whenReceived(backend, req, () => json(res, 404, { backend: backend.id, error: "not found" }));
    case "reset":
      req.socket.destroy();
      return;
    case "hang":
      return; // never answers; the connection closes with the server
    case "bad-status":
      req.socket.end("HTTP/1.1 999 Whatever\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
      return;
    case "unasked-upgrade":
      req.socket.end("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
      return;
    case "slow": {
      const timer = setTimeout(() => json(res, 200, { backend: backend.id, slow: true }), backend.slowMs);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    default:
      return whenReceived(backend, req, () => json(res, 200, { backend: backend.id }));
  }
}

async function startBackend(state: OriginState): Promise<Backend> {
  const id = state.backends.size + 1;
  const backend: Backend = { id, port: 0, server: createServer(), mode: "ok", slowMs: 1000, hits: 0, bodies: [], listening: false };
  // Registered before listening: backends started together must not share an id.
  state.backends.set(id, backend);
  backend.server.on("request", (req, res) => answerAsBackend(backend, req, res));
  backend.server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => backend.server.listen(0, "127.0.0.1", resolve));
  backend.port = (backend.server.address() as AddressInfo).port;
  backend.listening = true;
  return backend;
}

/** "refuse" stops listening (connections are refused); any other mode listens again on the same port. */
async function switchBackend(backend: Backend, mode: BackendMode, slowMs: number): Promise<void> {
  backend.mode = mode;
  backend.slowMs = slowMs;
  if (mode === "refuse" && backend.listening) {
    backend.listening = false;
    backend.server.closeAllConnections();
    await new Promise<void>((resolve) => backend.server.close(() => resolve()));
  } else if (mode !== "refuse" && !backend.listening) {
    await new Promise<void>((resolve) => backend.server.listen(backend.port, "127.0.0.1", resolve));
    backend.listening = true;
  }
}

/** Starts the origin on a free loopback port. Closing it closes the backends it started. */
export async function startOrigin(): Promise<{ server: Server; port: number }> {
  const state: OriginState = { backends: new Map(), hits: new Map(), received: new Map(), releases: new Map() };
  const server = createServer((req, res) => handle(state, req, res));
  server.keepAliveTimeout = 5_000;
  server.on("close", () => {
    for (const backend of state.backends.values()) {
      backend.server.closeAllConnections();
      if (backend.listening) backend.server.close();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Ports below Linux's ephemeral range (32768-60999, ip_local_port_range): a server that listens on
 * port 0 is never given one, so a port chosen here stays closed while other test servers (the e2e
 * project's, in the same run) start. A port from listen(0) could be handed out again to one of them.
 */
const UNASSIGNED_FROM = 20_000;
const UNASSIGNED_TO = 32_000;

/** A loopback port that nothing listens on: connections to it are refused. */
export async function closedPort(): Promise<number> {
  for (;;) {
    // Random, so that concurrent runs on one machine do not pick the same port.
    const port = UNASSIGNED_FROM + Math.floor(Math.random() * (UNASSIGNED_TO - UNASSIGNED_FROM));
    const probe = createServer();
    const free = await new Promise<boolean>((resolve) => {
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!free) continue;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }
}
