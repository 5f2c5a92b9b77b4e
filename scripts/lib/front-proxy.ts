/**
 * The dev stack's front door: what Cloudflare's edge does for a deployed Worker, it does for
 * `wrangler dev`. Every request's CF-Connecting-IP is set from the TCP peer address, and whatever
 * the client sent under that name (any case, any number of times) is dropped first. wrangler dev
 * cannot do this itself: its proxy Worker and Miniflare's entry Worker both set the header only
 * when the client did not, so a forged value reached the gateway and per-IP limits were no limits.
 *
 * Everything else passes through untouched and unbuffered: request and response bodies stream
 * both ways with backpressure (uploads of any size, server-sent events), and upgrades (WebSocket)
 * are spliced socket to socket after the same header rewrite.
 */
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { connect, type Socket } from "node:net";
import { type ProblemCode, problemResponse } from "../../src/errors.ts";
import { isAuthority } from "../../src/lib/request-target.ts";
import { ROUTE_METHODS } from "../../src/lib/routing/config.ts";

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

/** The peer address as Cloudflare writes it: dotted IPv4 for an IPv4 peer on a dual-stack socket. */
export function clientAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * The request's header lines for the Worker: raw (case, order and repeats kept), without any
 * client-sent CF-Connecting-IP and with the one from the socket. An upgrade keeps its Upgrade.
 */
function forwardedHeaderLines(req: IncomingMessage, upgrade: boolean): Array<[string, string]> {
  const named = connectionOptions(req.headers);
  const lines: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] ?? "";
    const lower = name.toLowerCase();
    if (lower === "cf-connecting-ip" || HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    lines.push([name, req.rawHeaders[i + 1] ?? ""]);
  }
  if (upgrade) lines.push(["Connection", "Upgrade"], ["Upgrade", String(req.headers.upgrade ?? "")]);
  lines.push(["CF-Connecting-IP", clientAddress(req.socket)]);
  return lines;
}

/** Why the front door refuses a request before wrangler dev sees it, as the gateway would answer it. */
interface Refusal {
  code: ProblemCode;
  detail: string;
  headers?: Record<string, string>;
}

const ONLY_ORIGIN_FORM: Refusal = {
  code: "method-not-allowed",
  detail: "Only requests for a path are proxied (no asterisk-form or authority-form targets).",
  headers: { allow: ROUTE_METHODS.join(", ") },
};

const INVALID_HOST: Refusal = {
  code: "invalid-host",
  detail: "The request needs exactly one Host header holding a host name and an optional port.",
};

/**
 * What Cloudflare's edge refuses before a Worker runs (RFC 9112 section 3.2: one valid Host), and
 * request targets no Worker can be handed (asterisk-form, authority-form). Without this, wrangler
 * dev's own layers fail on them with a 500 and a stack trace. An absolute-form target is turned into
 * the origin-form request it stands for, its authority replacing Host (RFC 9112 section 3.2.2).
 */
function refusalOrRewrite(req: IncomingMessage): Refusal | null {
  const target = req.url ?? "";
  if (/^https?:\/\//i.test(target)) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return INVALID_HOST;
    }
    if (url.username !== "" || url.password !== "" || !isAuthority(url.host)) return INVALID_HOST;
    req.url = `${url.pathname}${url.search}`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === "host") req.rawHeaders[i + 1] = url.host;
    req.headers.host = url.host;
  } else if (!target.startsWith("/")) {
    return ONLY_ORIGIN_FORM;
  }
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === "host") hosts++;
  if (hosts !== 1 || !isAuthority(req.headers.host ?? "")) return INVALID_HOST;
  return null;
}

/** Writes the gateway's problem document for `refusal` and closes the connection. */
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

  const forward = function forwardRequest(req: IncomingMessage, res: ServerResponse) {
    const refusal = refusalOrRewrite(req);
    if (refusal !== null) {
      void refuse(refusal, (status, headers, body) => {
        req.resume();
        res.writeHead(status, headers).end(body);
      });
      return;
    }
    const upstream = request({
      agent,
      host: target.host,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: forwardedHeaderLines(req, false).flat(),
    });
    upstream.on("response", (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaderLines(answer.headers, answer.rawHeaders));
      // Headers go out now, not with the first body chunk: a stream may be slow to start.
      res.flushHeaders();
      answer.pipe(res);
      answer.once("error", () => res.destroy());
    });
    upstream.on("error", () => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502, { "content-type": "text/plain; charset=utf-8" });
      res.end(`wrangler dev is not answering on ${target.host}:${target.port}\n`);
    });
    // The client went away: so does the request to the Worker (a cancelled upload or stream).
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  /** Writes a refusal straight to a socket that left HTTP (an upgrade, or CONNECT). */
  const refuseOnSocket = (refusal: Refusal, client: Socket) =>
    refuse(refusal, (status, headers, body) => {
      const lines = Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`);
      client.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${lines.join("")}\r\n${body}`);
    });

  const splice = function forwardUpgrade(req: IncomingMessage, client: Socket, head: Buffer) {
    const refusal = refusalOrRewrite(req);
    if (refusal !== null) {
      void refuseOnSocket(refusal, client);
      return;
    }
    const upstream = connect(target.port, target.host);
    const lines = forwardedHeaderLines(req, true).map(([name, value]) => `${name}: ${value}\r\n`);
    upstream.once("connect", () => {
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${lines.join("")}\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once("error", () => client.destroy());
    client.once("error", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
    client.once("close", () => upstream.destroy());
  };

  const servers: Server[] = [];
  const addresses: string[] = [];
  for (const host of options.hosts) {
    const server = createServer(forward);
    server.on("upgrade", splice);
    // A request Node's parser refuses (an authority-form target, a malformed field): a problem
    // document, as the gateway answers its own 400s.
    server.on("clientError", (error: NodeJS.ErrnoException, client: Socket) => {
      client.on("error", () => {});
      if (!client.writable) return client.destroy();
      if (error.code === "HPE_HEADER_OVERFLOW")
        return client.end("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n");
      if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
        return void refuseOnSocket({ code: "request-timeout", detail: "The request did not arrive in time." }, client);
      }
      void refuseOnSocket({ code: "bad-request", detail: "The request is not valid HTTP/1.1." }, client);
    });
    // CONNECT: no Worker is handed one on Cloudflare, and no tunnel is opened here either.
    server.on("connect", (_req: IncomingMessage, client: Socket) => {
      client.on("error", () => {});
      void refuseOnSocket({ ...ONLY_ORIGIN_FORM, detail: "CONNECT is not proxied by this gateway." }, client);
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
