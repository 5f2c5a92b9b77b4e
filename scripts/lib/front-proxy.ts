/**
 * The dev stack's front door: what Cloudflare's edge does for a deployed Worker, it does for
 * `wrangler dev`. Every request's CF-Connecting-IP is set from the TCP peer address, and whatever
 * the client sent under that name (any case, any number of times) is dropped first. wrangler dev
 * cannot do this itself: its proxy Worker and Miniflare's entry Worker both set the header only
 * when the client did not, so a forged value reached the gateway and per-IP limits were no limits.
 *
 * Like the edge, it answers itself what no Worker is ever handed (front-proxy-admission.ts), with
 * the gateway's problem documents, and forwards nothing of a request it refuses. Everything else
 * passes through untouched and unbuffered: request and response bodies stream both ways with
 * backpressure (uploads of any size, server-sent events), and upgrades (WebSocket) are spliced
 * socket to socket after the same header rewrite.
 */
import {
  Agent,
  type ClientRequest,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { connect, type Socket } from "node:net";
import { problemResponse } from "../../src/errors.ts";
import { type Admitted, admitRequest, ONLY_ORIGIN_FORM, parseErrorRefusal, type Refusal } from "./front-proxy-admission.ts";

/**
 * RFC 9110 section 7.6.1: hop-by-hop fields belong to one connection and are not forwarded.
 * Transfer-Encoding stays: Node re-frames the body it pipes by it. Expect is answered here (Node
 * sends 100 Continue itself), so the Worker must not answer it again.
 */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "upgrade", "expect"]);

export interface FrontProxy {
  /** The address each listener took, e.g. `127.0.0.1:8787`. */
  addresses: string[];
  close(): Promise<void>;
}

/** One request on a client connection and what became of it. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request to wrangler dev, once one is made. */
  upstream: ClientRequest | null;
  /** Its body broke on the way in: wrangler dev's request was cut off and its answer is not wanted. */
  aborted: boolean;
  /** The response has been written or abandoned. */
  settled: boolean;
}

/** The peer address as Cloudflare writes it: dotted IPv4 for an IPv4 peer on a dual-stack socket. */
export function clientAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * The request's header lines for the Worker: raw (case, order and repeats kept), without any
 * client-sent CF-Connecting-IP and with the one from the socket; Host is the admitted one. An
 * upgrade keeps its Upgrade.
 */
function forwardedHeaderLines(req: IncomingMessage, admitted: Admitted, upgrade: boolean): Array<[string, string]> {
  const named = connectionOptions(req.headers);
  const lines: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] ?? "";
    const lower = name.toLowerCase();
    if (lower === "cf-connecting-ip" || HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    lines.push([name, lower === "host" ? admitted.host : (req.rawHeaders[i + 1] ?? "")]);
  }
  if (upgrade) lines.push(["Connection", "Upgrade"], ["Upgrade", String(req.headers.upgrade ?? "")]);
  lines.push(["CF-Connecting-IP", clientAddress(req.socket)]);
  return lines;
}

/** The head of `req` as admitRequest reads it. */
function admissionOf(req: IncomingMessage) {
  return admitRequest({ method: req.method ?? "", target: req.url ?? "", httpVersion: req.httpVersion, rawHeaders: req.rawHeaders });
}

/** Writes the gateway's problem document for `refusal`; it always closes the connection. */
async function refuse(refusal: Refusal, write: (status: number, headers: Record<string, string>, body: string) => void): Promise<void> {
  const response = problemResponse(refusal.code, crypto.randomUUID(), refusal.detail, { ...refusal.headers, connection: "close" });
  const body = await response.text();
  write(response.status, { ...Object.fromEntries(response.headers), "content-length": String(Buffer.byteLength(body)) }, body);
}

/** The field names a Connection header lists, which are hop-by-hop too. */
function connectionOptions(headers: IncomingHttpHeaders): Set<string> {
  return new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ""),
  );
}

function responseHeaderLines(headers: IncomingHttpHeaders, raw: string[]): string[] {
  const named = connectionOptions(headers);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] ?? "").toLowerCase();
    if (lower === "connection" || lower === "keep-alive" || named.has(lower)) continue;
    out.push(raw[i] ?? "", raw[i + 1] ?? "");
  }
  return out;
}

/**
 * Listens on `port` at each of `hosts` and forwards to `target` (`host:port` of wrangler dev),
 * setting CF-Connecting-IP from the socket. A host that does not exist here (no IPv6) is skipped.
 */
export async function startFrontProxy(options: {
  port: number;
  hosts: string[];
  target: { host: string; port: number };
}): Promise<FrontProxy> {
  const agent = new Agent({ keepAlive: true });
  const { target } = options;
  // Per client connection, in request order: the exchanges not yet settled (a response still to
  // write, or a body still arriving). Weak: a closed connection's entry goes with its socket.
  const exchanges = new WeakMap<Socket, Exchange[]>();
  // Connections that are being closed after a refusal: RFC 9112 section 9.6, no request that
  // follows on them is acted on.
  const closing = new WeakSet<Socket>();

  const unsettled = (socket: Socket): Exchange[] => {
    const live = (exchanges.get(socket) ?? []).filter((exchange) => !(exchange.settled && exchange.req.complete));
    exchanges.set(socket, live);
    return live;
  };

  /**
   * Runs `then` once every response owed on `socket` has been written: an answer of the front
   * door's own for later bytes goes after them (RFC 9112 section 9.3.2: responses in request order).
   */
  const afterOwedResponses = (socket: Socket, then: () => void) => {
    const owed = unsettled(socket).filter((exchange) => !exchange.settled);
    let left = owed.length;
    if (left === 0) return then();
    for (const exchange of owed) exchange.res.once("close", () => --left === 0 && then());
  };

  /** Writes a refusal straight to a socket outside any response: a parse error, an upgrade, CONNECT. */
  const refuseOnSocket = (refusal: Refusal, client: Socket) => {
    closing.add(client);
    afterOwedResponses(client, () => {
      // The last response owed closed the connection (HTTP/1.0, Connection: close): nothing more is said.
      if (!client.writable) return;
      void refuse(refusal, (status, headers, body) => {
        const lines = Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`);
        client.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${lines.join("")}\r\n${body}`);
      });
    });
  };

  const refuseResponse = (refusal: Refusal, exchange: Exchange) => {
    closing.add(exchange.req.socket);
    // Whatever body follows is read and dropped until the connection closes after the answer.
    exchange.req.resume();
    void refuse(refusal, (status, headers, body) => exchange.res.writeHead(status, headers).end(body));
  };

  const forward = function forwardRequest(req: IncomingMessage, res: ServerResponse, continueExpected = false) {
    const socket = req.socket;
    const exchange: Exchange = { req, res, upstream: null, aborted: false, settled: false };
    unsettled(socket).push(exchange);
    res.once("close", () => {
      exchange.settled = true;
      // The client went away: so does the request to the Worker (a cancelled upload or stream).
      if (!res.writableFinished) exchange.upstream?.destroy();
    });
    // A request pipelined behind a refusal: the connection closes once the refusal is written.
    if (closing.has(socket)) {
      req.resume();
      return;
    }
    const admission = admissionOf(req);
    if ("refusal" in admission) return refuseResponse(admission.refusal, exchange);
    // Only now, when the request is admitted, is the client told to send its body.
    if (continueExpected) res.writeContinue();
    const upstream = request({
      agent,
      host: target.host,
      port: target.port,
      method: req.method,
      path: admission.admitted.target,
      headers: forwardedHeaderLines(req, admission.admitted, false).flat(),
    });
    exchange.upstream = upstream;
    upstream.on("response", (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaderLines(answer.headers, answer.rawHeaders));
      // Headers go out now, not with the first body chunk: a stream may be slow to start.
      res.flushHeaders();
      answer.pipe(res);
      answer.once("error", () => res.destroy());
    });
    upstream.on("error", () => {
      if (exchange.aborted) return;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502, { "content-type": "text/plain; charset=utf-8" });
      res.end(`wrangler dev is not answering on ${target.host}:${target.port}\n`);
    });
    req.pipe(upstream);
  };

  /**
   * A request Node's parser refused: its head (a malformed field, an oversized header section) or
   * the body of one already forwarded (malformed chunked framing, a connection closed short of
   * Content-Length). Responses owed for earlier requests go first; a forwarded request whose body
   * broke is cut off before it completes, so wrangler dev never sees it whole.
   */
  const refuseUnparsable = function refuseUnparsable(error: NodeJS.ErrnoException, client: Socket) {
    client.on("error", () => {});
    // A connection already closing after a refusal (or a parser failing again) has had its answer.
    if (closing.has(client)) return;
    closing.add(client);
    const broken = unsettled(client).find((exchange) => !exchange.req.complete);
    if (broken !== undefined) {
      broken.aborted = true;
      broken.upstream?.destroy();
    }
    // The client reset the connection (or it broke): there is no one left to answer.
    if (!client.writable) return client.destroy();
    if (broken === undefined) return refuseOnSocket(parseErrorRefusal(error.code, false), client);
    // Its response already went (an early answer): nothing can be said after it but the close.
    if (broken.res.writableFinished) return client.end();
    // Its response is under way: a problem document in the middle would corrupt it; the cut says it.
    if (broken.res.headersSent) return client.destroy();
    void refuse(parseErrorRefusal(error.code, true), (status, headers, body) => broken.res.writeHead(status, headers).end(body));
  };

  const splice = function forwardUpgrade(req: IncomingMessage, client: Socket, head: Buffer) {
    client.on("error", () => {});
    const admission = admissionOf(req);
    if ("refusal" in admission) return refuseOnSocket(admission.refusal, client);
    const lines = forwardedHeaderLines(req, admission.admitted, true).map(([name, value]) => `${name}: ${value}\r\n`);
    // An upgrade pipelined behind requests still being answered waits for their responses.
    afterOwedResponses(client, () => {
      if (!client.writable) return client.destroy();
      const upstream = connect(target.port, target.host);
      upstream.once("connect", () => {
        upstream.write(`${req.method} ${admission.admitted.target} HTTP/1.1\r\n${lines.join("")}\r\n`);
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.once("error", () => client.destroy());
      client.once("error", () => upstream.destroy());
      upstream.once("close", () => client.destroy());
      client.once("close", () => upstream.destroy());
    });
  };

  const servers: Server[] = [];
  const addresses: string[] = [];
  for (const host of options.hosts) {
    // requireHostHeader off: a missing Host gets the gateway's invalid-host problem, not Node's
    // bare 400. maxHeadersCount 0: Node would otherwise drop every field after the 2000th and
    // forward a request other than the one sent (the header section stays bounded by its size).
    const server = createServer({ requireHostHeader: false }, (req, res) => forward(req, res));
    server.maxHeadersCount = 0;
    // Node's default ends a connection when the client half-closes it, dropping responses still
    // owed for requests already forwarded (a client that sends, then shuts its side, as `nc` does).
    // With it on, the last owed response closes the connection instead. Not in Node's types.
    Object.assign(server, { httpAllowHalfOpen: true });
    // Expect: 100-continue is answered only once the request is admitted; any other expectation
    // is refused by admitRequest.
    server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => forward(req, res, true));
    server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => forward(req, res));
    server.on("upgrade", splice);
    server.on("clientError", refuseUnparsable);
    // CONNECT: no Worker is handed one on Cloudflare, and no tunnel is opened here either.
    server.on("connect", (_req: IncomingMessage, client: Socket) => {
      client.on("error", () => {});
      refuseOnSocket({ ...ONLY_ORIGIN_FORM, detail: "CONNECT is not proxied by this gateway." }, client);
    });
    // Large uploads and long streams are the point of a gateway: no server-side timeouts here.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    const listening = await new Promise<boolean>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) =>
        error.code === "EADDRNOTAVAIL" || error.code === "EAFNOSUPPORT" ? resolve(false) : reject(error),
      );
      server.listen(options.port, host, () => resolve(true));
    });
    if (!listening) continue;
    servers.push(server);
    const address = server.address();
    if (typeof address === "object" && address) {
      addresses.push(address.family === "IPv6" ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`);
    }
  }
  if (servers.length === 0) throw new Error(`could not listen on port ${options.port} at ${options.hosts.join(", ")}`);

  return {
    addresses,
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
      agent.destroy();
    },
  };
}
