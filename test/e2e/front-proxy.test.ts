/**
 * The dev stack's front proxy (scripts/lib/front-proxy.ts) over real sockets: a client-sent
 * CF-Connecting-IP never reaches what is behind it, in any spelling or number, on plain requests
 * and upgrades; bodies stream both ways; what no Worker is ever handed (GET bodies, /cdn-cgi/ in
 * any spelling, faulty framing, malformed fields) gets the gateway's problem document and nothing
 * of it is forwarded; responses keep their order ahead of any error for later bytes; and in front
 * of the gateway as wrangler dev serves it (workerd behind Miniflare's entry Worker, which keeps a
 * client-sent value), per-IP limits hold.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePorts } from "../../scripts/lib/free-port.ts";
import { type FrontProxy, startFrontProxy } from "../../scripts/lib/front-proxy.ts";
import { gatewayWorkerOptions } from "../../scripts/lib/gateway-worker.ts";
import { recordStructuredLogs } from "../harness/runtime-log.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const BUNDLE = resolve(ROOT, ".e2e/gateway");
const WRANGLER = resolve(ROOT, "node_modules/wrangler/bin/wrangler.js");
const ADMIN_TOKEN = `front-${crypto.randomUUID()}`;

/** What the origin saw: every request's headers, upgrades included. */
const seen: IncomingHttpHeaders[] = [];
/** Every upload the origin began to read, and whether its body arrived complete. */
const uploads: Array<{ complete: boolean; bytes: number }> = [];
let releaseStream: () => void = () => {};

let origin: Server;
let originPort: number;
let proxy: FrontProxy;
let proxyPort: number;

function listen(server: Server, port: number): Promise<void> {
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done()));
}

/**
 * Sends `head` verbatim on a raw socket and resolves with everything read until the peer closes.
 * `halfClose`: the client then shuts its sending side, as `printf ... | nc` does.
 */
function rawExchange(port: number, head: string, host = "127.0.0.1", halfClose = false): Promise<string> {
  return new Promise((done, fail) => {
    const socket = connect(port, host);
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString("utf8")));
    socket.once("error", fail);
    socket.once("close", () => done(text));
    if (halfClose) socket.end(head);
    else socket.write(head);
  });
}

/** The status codes of the responses in a raw exchange, in order (interim 1xx included). */
function statuses(raw: string): number[] {
  return [...raw.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((match) => Number(match[1]));
}

/** A refusal as the gateway writes one: the status, its problem type, no stack trace, the connection closed. */
function expectProblem(raw: string, status: number, code: string, method = "GET"): void {
  expect(statuses(raw)).toEqual([status]);
  const head = raw.slice(0, raw.indexOf("\r\n\r\n")).toLowerCase();
  expect(head).toContain("content-type: application/problem+json");
  expect(head).toContain("connection: close");
  expect(raw).not.toMatch(/ at |file:|\.js:\d|\.ts:\d/);
  // A response to HEAD has no body (RFC 9110 section 9.3.2): its status and media type say it.
  if (method === "HEAD") return;
  const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as { type: string; status: number };
  expect(body).toMatchObject({ type: `urn:edgegate:problem:${code}`, status });
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function forgedRequest(path: string, forged: string[]): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${forged.join("\r\n")}\r\nConnection: close\r\n\r\n`;
}

beforeAll(async () => {
  origin = createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === "/stream") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: first\n\n");
      releaseStream = () => res.end("data: last\n\n");
      return;
    }
    if (req.url === "/upload") {
      const hash = createHash("sha256");
      const upload = { complete: false, bytes: 0 };
      uploads.push(upload);
      req.on("data", (chunk: Buffer) => {
        upload.bytes += chunk.length;
        hash.update(chunk);
      });
      req.on("end", () => {
        upload.complete = true;
        res.end(JSON.stringify({ bytes: upload.bytes, sha256: hash.digest("hex") }));
      });
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(req.headers));
  });
  origin.on("upgrade", (req, socket: Socket, head: Buffer) => {
    seen.push(req.headers);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  // Every field a request carries reaches the origin, however many (the proxy must not drop any).
  origin.maxHeadersCount = 0;
  [originPort, proxyPort] = await freePorts(2);
  await listen(origin, originPort);
  proxy = await startFrontProxy({ port: proxyPort, hosts: ["127.0.0.1", "::1"], target: { host: "127.0.0.1", port: originPort } });
});

afterAll(async () => {
  await proxy?.close();
  origin?.closeAllConnections();
  await new Promise((done) => origin?.close(done));
});

describe("front proxy: CF-Connecting-IP comes from the socket", () => {
  it.each([
    ["one forged value", ["CF-Connecting-IP: 203.0.113.9"]],
    ["lower case", ["cf-connecting-ip: 203.0.113.9"]],
    ["mixed case", ["Cf-CoNnEcTiNg-Ip: 203.0.113.9"]],
    ["repeated", ["CF-Connecting-IP: 203.0.113.9", "cf-connecting-ip: 198.51.100.1"]],
    ["a list", ["CF-Connecting-IP: 203.0.113.9, 127.0.0.1"]],
    ["empty", ["CF-Connecting-IP:"]],
    ["named in Connection", ["CF-Connecting-IP: 203.0.113.9", "X-Hop: 1", "Connection: x-hop"]],
  ])("drops a client-sent value (%s) and sets the peer address once", async (_, forged) => {
    seen.length = 0;
    const answer = await rawExchange(proxyPort, forgedRequest("/headers", forged));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.["cf-connecting-ip"]).toBe("127.0.0.1");
    expect(JSON.stringify(seen[0])).not.toContain("203.0.113.9");
    expect(seen[0]?.["x-hop"]).toBeUndefined();
  });

  it("writes an IPv6 peer as the IPv6 address", async (context) => {
    if (!proxy.addresses.some((address) => address.startsWith("[::1]"))) context.skip();
    seen.length = 0;
    await rawExchange(proxyPort, forgedRequest("/headers", ["CF-Connecting-IP: 203.0.113.9"]), "::1");
    expect(seen[0]?.["cf-connecting-ip"]).toBe("::1");
  });

  it("drops a client-sent value on an upgrade, then splices both ways", async () => {
    seen.length = 0;
    const socket = connect(proxyPort, "127.0.0.1");
    socket.write(
      "GET /socket HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\nCF-Connecting-IP: 203.0.113.9\r\ncf-connecting-ip: 10.0.0.1\r\n\r\n",
    );
    let text = "";
    await new Promise<void>((done) => {
      socket.on("data", (chunk) => {
        text += chunk.toString("utf8");
        if (text.includes("\r\n\r\n") && !text.includes("ping")) socket.write("ping");
        if (text.endsWith("ping")) done();
      });
    });
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.["cf-connecting-ip"]).toBe("127.0.0.1");
    expect(seen[0]?.upgrade).toBe("echo");
  });

  it("streams a response: the first event arrives before the origin sends the last", async () => {
    const response = await fetch(`http://127.0.0.1:${proxyPort}/stream`);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe("data: first\n\n");
    releaseStream();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
    expect(rest).toBe("data: last\n\n");
  });

  it("streams a large upload through unchanged", async () => {
    const block = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
    const blocks = 48;
    const hash = createHash("sha256");
    for (let i = 0; i < blocks; i++) hash.update(block);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < blocks) controller.enqueue(block);
        else controller.close();
      },
    });
    const response = await fetch(`http://127.0.0.1:${proxyPort}/upload`, { method: "POST", body, duplex: "half" } as RequestInit);
    expect(await response.json()).toEqual({ bytes: blocks << 20, sha256: hash.digest("hex") });
  });

  it("answers 502 when nothing listens behind it", async () => {
    const [port, closed] = await freePorts(2);
    const orphan = await startFrontProxy({ port, hosts: ["127.0.0.1"], target: { host: "127.0.0.1", port: closed } });
    try {
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(502);
    } finally {
      await orphan.close();
    }
  });
});

/** A request line and Host for the proxy in front of the recording origin. */
const line = (method: string, target: string, version = "1.1") => `${method} ${target} HTTP/${version}\r\nHost: 127.0.0.1\r\n`;

describe("front proxy: a GET or HEAD declaring a body is refused, as the gateway refuses it", () => {
  it.each([
    [
      "GET, chunked (the reported case)",
      `${line("GET", "/api/x")}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    ],
    ["GET, chunked and empty", `${line("GET", "/api/x")}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ["GET, chunked, the client half-closing", `${line("GET", "/api/x")}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ["GET, chunked, the body not yet sent", `${line("GET", "/api/x")}Transfer-Encoding: chunked\r\n\r\n`],
    ["GET, Content-Length", `${line("GET", "/api/x")}Content-Length: 3\r\n\r\nabc`],
    ["GET, Content-Length, the body not yet sent", `${line("GET", "/api/x")}Content-Length: 3\r\n\r\n`],
    ["GET, Content-Length with leading zeros", `${line("GET", "/api/x")}Content-Length: 003\r\n\r\nabc`],
    ["GET over HTTP/1.0, Content-Length", `${line("GET", "/api/x", "1.0")}Content-Length: 3\r\n\r\nabc`],
    ["GET asking to continue first", `${line("GET", "/api/x")}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n`],
    ["GET in absolute form", "GET http://127.0.0.1/api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"],
    ["HEAD, chunked", `${line("HEAD", "/api/x")}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ["HEAD, Content-Length", `${line("HEAD", "/api/x")}Content-Length: 3\r\n\r\nabc`],
  ])("%s: 400 body-not-allowed, before anything is forwarded", async (name, request) => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, request, "127.0.0.1", name.includes("half-closing"));
    expectProblem(raw, 400, "body-not-allowed", request.slice(0, request.indexOf(" ")));
    // No 100 Continue went out for a request that is refused: the client never sends the body.
    expect(raw).not.toContain("100 Continue");
    await sleep(50);
    expect(seen).toHaveLength(0);
  });

  it("an upgrade declaring a body: refused, the origin never asked to switch", async () => {
    seen.length = 0;
    const raw = await rawExchange(
      proxyPort,
      `${line("GET", "/socket")}Connection: Upgrade\r\nUpgrade: echo\r\nContent-Length: 3\r\n\r\nabc`,
    );
    expectProblem(raw, 400, "body-not-allowed");
    expect(seen).toHaveLength(0);
  });

  it.each([
    ["GET with Content-Length: 0", `${line("GET", "/headers")}Content-Length: 0\r\nConnection: close\r\n\r\n`],
    ["HEAD with Content-Length: 0", `${line("HEAD", "/headers")}Content-Length: 0\r\nConnection: close\r\n\r\n`],
    ["POST, chunked", `${line("POST", "/headers")}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
  ])("%s is an ordinary request: forwarded", async (_name, request) => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, request);
    expect(statuses(raw)).toEqual([200]);
    expect(seen).toHaveLength(1);
  });
});

describe("front proxy: /cdn-cgi/ is the platform's, in every spelling", () => {
  // wrangler dev routes the first three groups to its own endpoints (measured against wrangler dev:
  // the URL parser resolves dot segments, %2e included); the rest are spellings other parsers
  // (the gateway's normalization, upstreams) read as the same path.
  it.each([
    ["POST", "/cdn-cgi/handler/scheduled"],
    ["POST", "/cdn-cgi/mf/scheduled"],
    ["GET", "/cdn-cgi/handler/email"],
    ["GET", "/cdn-cgi/explorer/api/storage/kv/namespaces"],
    ["PUT", "/cdn-cgi/explorer/api/storage/kv/namespaces/00000000000000000000000000000000/values/apikey%3Aforged"],
    ["DELETE", "/cdn-cgi/explorer/api/storage/kv/namespaces/00000000000000000000000000000000/values/config"],
    ["GET", "/cdn-cgi/explorer/"],
    ["GET", "/cdn-cgi"],
    ["GET", "/cdn-cgi/"],
    ["GET", "/cdn-cgi/handler/scheduled?cron=*"],
    ["HEAD", "/cdn-cgi/explorer/api/"],
    ["OPTIONS", "/cdn-cgi/explorer/api/"],
    ["POST", "/./cdn-cgi/handler/scheduled"],
    ["POST", "/x/../cdn-cgi/handler/scheduled"],
    ["POST", "/%2e/cdn-cgi/handler/scheduled"],
    ["POST", "/%2E%2E/cdn-cgi/handler/scheduled"],
    ["POST", "/.%2e/cdn-cgi/handler/scheduled"],
    ["GET", "/%2e/cdn-cgi/explorer/api/storage/kv/namespaces"],
    ["POST", "/cdn-cgi/x/../handler/scheduled"],
    ["POST", "/CDN-CGI/handler/scheduled"],
    ["POST", "/Cdn-Cgi/mf/scheduled"],
    ["POST", "//cdn-cgi/handler/scheduled"],
    ["POST", "///cdn-cgi/handler/scheduled"],
    ["POST", "/%63dn-cgi/handler/scheduled"],
    ["POST", "/%43DN-%43GI/handler/scheduled"],
    ["POST", "/%2563dn-cgi/handler/scheduled"],
    ["POST", "/cdn-cgi%2Fhandler/scheduled"],
    ["POST", "/%2Fcdn-cgi/handler/scheduled"],
    ["POST", "/\\cdn-cgi/handler/scheduled"],
    ["POST", "/cdn-cgi\\handler\\scheduled"],
    ["POST", "/x/..%5Ccdn-cgi/handler/scheduled"],
    ["POST", "/cdn-cgi;x/handler/scheduled"],
    ["POST", "/..;/cdn-cgi/handler/scheduled"],
    ["POST", "http://127.0.0.1/cdn-cgi/handler/scheduled"],
    ["POST", "http://127.0.0.1/a/../cdn-cgi/handler/scheduled"],
    ["POST", "HTTP://127.0.0.1/%63dn-cgi/mf/scheduled"],
  ])("%s %s: 404 route-not-found, never forwarded", async (method, target) => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`);
    expectProblem(raw, 404, "route-not-found", method);
    expect(seen).toHaveLength(0);
  });

  it("an upgrade under /cdn-cgi/: 404, the origin never asked to switch", async () => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, `${line("GET", "/%2e/cdn-cgi/socket")}Connection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
    expectProblem(raw, 404, "route-not-found");
    expect(seen).toHaveLength(0);
  });

  it("a target without its leading slash is refused before it could be read as one", async () => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, "POST \\cdn-cgi\\handler\\scheduled HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
    expect(statuses(raw)[0]).toBeGreaterThanOrEqual(400);
    expect(statuses(raw)[0]).toBeLessThan(500);
    expect(raw).toContain("application/problem+json");
    expect(seen).toHaveLength(0);
  });

  it.each(["/cdn-cgi-reports/x", "/api/cdn-cgi/x", "/api/x?next=/cdn-cgi/handler/scheduled", "/cdn-cgi/../api/x", "/%2e%2e/api/cdn-cgi"])(
    "%s is an ordinary path: forwarded",
    async (target) => {
      seen.length = 0;
      const raw = await rawExchange(proxyPort, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(statuses(raw)).toEqual([200]);
      expect(seen).toHaveLength(1);
    },
  );
});

describe("front proxy: faulty framing is refused and the connection closed; nothing of it is forwarded", () => {
  it.each([
    ["chunked (the reported case)", `${line("POST", "/upload", "1.0")}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, true],
    [
      "chunked, the connection left open",
      `${line("POST", "/upload", "1.0")}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      false,
    ],
    [
      "chunked, keep-alive asked",
      `${line("POST", "/upload", "1.0")}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      false,
    ],
    ["chunked, the body not yet sent", `${line("PUT", "/upload", "1.0")}Transfer-Encoding: chunked\r\n\r\n`, false],
    ["identity", `${line("POST", "/upload", "1.0")}Transfer-Encoding: identity\r\n\r\nabc`, true],
    ["gzip, chunked", `${line("POST", "/upload", "1.0")}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, true],
  ])("HTTP/1.0 with Transfer-Encoding (%s): 400 bad-request", async (_name, request, halfClose) => {
    seen.length = 0;
    uploads.length = 0;
    const raw = await rawExchange(proxyPort, request, "127.0.0.1", halfClose);
    expectProblem(raw, 400, "bad-request");
    await sleep(50);
    expect(seen).toHaveLength(0);
    expect(uploads).toHaveLength(0);
  });

  it.each([
    ["Content-Length, then Transfer-Encoding", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Transfer-Encoding, then Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Content-Length twice, different", "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
    ["Content-Length twice, the same", "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"],
    ["Content-Length as a list", "Content-Length: 3, 3\r\n\r\nabc"],
    ["a signed Content-Length", "Content-Length: +3\r\n\r\nabc"],
    ["an empty Content-Length", "Content-Length:\r\n\r\nabc"],
    ["Transfer-Encoding gzip", "Transfer-Encoding: gzip\r\n\r\nabc"],
    ["Transfer-Encoding identity", "Transfer-Encoding: identity\r\n\r\nabc"],
    ["Transfer-Encoding gzip, then chunked", "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Transfer-Encoding chunked twice", "Transfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Transfer-Encoding in two fields", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Transfer-Encoding chunked, then gzip", "Transfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Transfer-Encoding empty", "Transfer-Encoding:\r\n\r\nabc"],
    ["Transfer-Encoding misspelt", "Transfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
  ])("a POST with %s: 400 bad-request", async (_name, rest) => {
    seen.length = 0;
    uploads.length = 0;
    const raw = await rawExchange(proxyPort, `${line("POST", "/upload")}${rest}`);
    expectProblem(raw, 400, "bad-request");
    await sleep(50);
    expect(seen).toHaveLength(0);
    expect(uploads).toHaveLength(0);
  });

  it.each([
    ["malformed chunk size", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n", false],
    ["bare LF after a chunk size", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\nabc\r\n0\r\n\r\n", false],
    ["chunked, the client half-closing mid-body", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true],
    ["Content-Length, the client half-closing short of it", "Content-Length: 10\r\n\r\nhello", true],
  ])("a forwarded upload whose body breaks (%s): 400 incomplete-body, the origin never gets it whole", async (_name, rest, halfClose) => {
    uploads.length = 0;
    const raw = await rawExchange(proxyPort, `${line("POST", "/upload")}${rest}`, "127.0.0.1", halfClose);
    expectProblem(raw, 400, "incomplete-body");
    await sleep(100);
    expect(uploads.filter((upload) => upload.complete)).toEqual([]);
  });

  it("an HTTP/1.0 POST followed by stray bytes: its response reaches the client, and no error for the bytes after it", async () => {
    for (const halfClose of [true, false]) {
      seen.length = 0;
      const raw = await rawExchange(proxyPort, `${line("POST", "/headers", "1.0")}\r\nXYZ`, "127.0.0.1", halfClose);
      // HTTP/1.0 without keep-alive: the connection ends with the response; the bytes after the
      // request are not a request of this connection.
      expect(statuses(raw)).toEqual([200]);
      expect(seen).toHaveLength(1);
    }
  });

  it("a client that resets mid-upload: the origin's request is cut off, and the proxy serves on", async () => {
    uploads.length = 0;
    const socket = connect(proxyPort, "127.0.0.1");
    socket.on("error", () => {});
    socket.write(`${line("POST", "/upload")}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await vi.waitFor(() => expect(uploads[0]?.bytes).toBe(5));
    socket.resetAndDestroy();
    await sleep(100);
    expect(uploads).toEqual([{ complete: false, bytes: 5 }]);
    expect(statuses(await rawExchange(proxyPort, `${line("GET", "/headers")}Connection: close\r\n\r\n`))).toEqual([200]);
  });

  it.each([
    ["the connection left open", false, [200, 200, 400]],
    // The client's FIN makes the last owed response the connection's last (RFC 9112 section 9.6):
    // the bytes after the requests get no answer of their own.
    ["the client half-closing", true, [200, 200]],
  ])("pipelined requests, then bytes that are not HTTP (%s): the responses first, in order", async (_name, halfClose, expected) => {
    seen.length = 0;
    const raw = await rawExchange(
      proxyPort,
      `${line("GET", "/headers")}\r\n${line("GET", "/other")}\r\nNOT HTTP\r\n\r\n`,
      "127.0.0.1",
      halfClose,
    );
    expect(statuses(raw)).toEqual(expected);
    if (expected.length === 3) expect(raw.slice(raw.lastIndexOf("HTTP/1.1 400"))).toContain("urn:edgegate:problem:bad-request");
    expect(seen).toHaveLength(2);
  });

  it("a request pipelined behind a refused one is not forwarded: the refusal closes the connection", async () => {
    seen.length = 0;
    uploads.length = 0;
    const raw = await rawExchange(
      proxyPort,
      `${line("GET", "/api/x")}Content-Length: 3\r\n\r\nabc${line("POST", "/upload")}Content-Length: 3\r\n\r\nabc${line("GET", "/headers")}\r\n`,
    );
    expectProblem(raw, 400, "body-not-allowed");
    await sleep(50);
    expect(seen).toHaveLength(0);
    expect(uploads).toHaveLength(0);
  });

  it("a client that half-closes after its request still gets the response", async () => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, `${line("GET", "/headers")}\r\n${line("GET", "/headers")}\r\n`, "127.0.0.1", true);
    expect(statuses(raw)).toEqual([200, 200]);
    expect(seen).toHaveLength(2);
  });
});

describe("front proxy: malformed or unsupported request heads get a problem document, never Node's bare answer", () => {
  it.each([
    ["an expectation other than 100-continue", `${line("GET", "/headers")}Expect: foo\r\n\r\n`],
    ["100-continue with another expectation", `${line("POST", "/upload")}Expect: 100-continue, foo\r\nContent-Length: 3\r\n\r\n`],
    ["an expectation over HTTP/1.0", `${line("GET", "/headers", "1.0")}Expect: foo\r\n\r\n`],
    ["an obsolete line folding", `${line("GET", "/headers")}X-Folded: a\r\n b\r\n\r\n`],
    ["a field line starting with a space", `${line("GET", "/headers")} X-Indented: a\r\n\r\n`],
    ["a field name with a space", `${line("GET", "/headers")}X Spaced: a\r\n\r\n`],
    ["a space before the colon", `${line("GET", "/headers")}X-Spaced : a\r\n\r\n`],
    ["a field value with a NUL", `${line("GET", "/headers")}X-Nul: a\u0000b\r\n\r\n`],
    ["bare LF line ends", "GET /headers HTTP/1.1\nHost: 127.0.0.1\n\n"],
    ["HTTP/2.0 on this port", "GET /headers HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n"],
    ["HTTP/1.2", "GET /headers HTTP/1.2\r\nHost: 127.0.0.1\r\n\r\n"],
    ["an HTTP/0.9 request line", "GET /headers\r\n\r\n"],
    ["a fragment in the target", `${line("GET", "/headers#admin")}\r\n`],
    ["a method in lower case", "get /headers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"],
    ["a header section over 16 KiB in one field", `${line("GET", "/headers")}X-Big: ${"a".repeat(20_000)}\r\n\r\n`],
    [
      "a header section over 16 KiB in many fields",
      `${line("GET", "/headers")}${"X-Many: abcdefghijklmnopqrstuvwxyz\r\n".repeat(800)}\r\n`,
    ],
    ["a target over 16 KiB", `${line("GET", `/headers?${"q".repeat(20_000)}`)}\r\n`],
  ])("%s: 400 bad-request", async (_name, request) => {
    seen.length = 0;
    uploads.length = 0;
    const raw = await rawExchange(proxyPort, request);
    expectProblem(raw, 400, "bad-request");
    expect(raw).not.toContain("100 Continue");
    await sleep(50);
    expect(seen).toHaveLength(0);
    expect(uploads).toHaveLength(0);
  });

  it("an HTTP/1.1 request without Host: 400 invalid-host", async () => {
    seen.length = 0;
    expectProblem(await rawExchange(proxyPort, "GET /headers HTTP/1.1\r\nConnection: close\r\n\r\n"), 400, "invalid-host");
    expect(seen).toHaveLength(0);
  });

  it("Expect: 100-continue on an admitted upload: 100 Continue, then the origin's answer", async () => {
    uploads.length = 0;
    const socket = connect(proxyPort, "127.0.0.1");
    let raw = "";
    await new Promise<void>((done) => {
      socket.on("data", (chunk) => {
        raw += chunk.toString("utf8");
        if (raw.includes("100 Continue\r\n\r\n") && !raw.includes("200")) socket.write("abc");
      });
      socket.once("close", () => done());
      socket.write(`${line("POST", "/upload")}Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n`);
    });
    expect(statuses(raw)).toEqual([100, 200]);
    expect(uploads).toEqual([{ complete: true, bytes: 3 }]);
  });

  it("2,100 small fields (under the size limit) reach the origin, none dropped", async () => {
    seen.length = 0;
    const raw = await rawExchange(proxyPort, `${line("GET", "/headers")}${"X:1\r\n".repeat(2100)}Connection: close\r\n\r\n`);
    expect(statuses(raw)).toEqual([200]);
    expect(String(seen[0]?.x).split(", ")).toHaveLength(2100);
  });
});

describe("front proxy in front of the gateway as wrangler dev serves it", () => {
  let mf: Miniflare;
  let gatewayPort: number;
  let frontPort: number;
  let front: FrontProxy;

  beforeAll(async () => {
    [gatewayPort, frontPort] = await freePorts(2);
    // Miniflare's entry Worker in front, as under wrangler dev: it sets CF-Connecting-IP only when
    // the client did not.
    const { unsafeDirectSockets: _, ...worker } = gatewayWorkerOptions(BUNDLE, 0, {
      ADMIN_TOKEN,
      ALLOW_PRIVATE_UPSTREAMS: "true",
      CONFIG_REFRESH_INTERVAL_MS: "0",
    });
    mf = new Miniflare(
      // The gateway's log goes to the run's file, not the terminal: a failed test shows its lines.
      convertV4MiniflareOptions({
        host: "127.0.0.1",
        port: gatewayPort,
        handleStructuredLogs: recordStructuredLogs("front-proxy"),
        workers: [worker],
      }),
    );
    await mf.ready;
    front = await startFrontProxy({ port: frontPort, hosts: ["127.0.0.1"], target: { host: "127.0.0.1", port: gatewayPort } });
    const config = {
      clusters: { echo: { targets: [{ url: `http://127.0.0.1:${originPort}` }] } },
      routes: [
        { id: "open", match: { path: "/open/*" }, cluster: "echo" },
        {
          id: "limited",
          match: { path: "/limited/*" },
          cluster: "echo",
          rateLimits: [{ id: "per-ip", algorithm: "fixed-window", limit: 3, windowSec: 600, key: ["ip"] }],
        },
      ],
    };
    const published = await fetch(`http://127.0.0.1:${gatewayPort}/__gateway/admin/config`, {
      method: "PUT",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "if-match": "*" },
      body: JSON.stringify(config),
    });
    expect(published.status).toBe(201);
  });

  afterAll(async () => {
    await front?.close();
    await mf?.dispose();
  });

  it("without it a forged value reaches the gateway (why it exists); through it the socket's does", async () => {
    const forged = { "cf-connecting-ip": "203.0.113.77" };
    const direct = (await (await fetch(`http://127.0.0.1:${gatewayPort}/open/a`, { headers: forged })).json()) as IncomingHttpHeaders;
    expect(direct["x-real-ip"]).toBe("203.0.113.77");
    const fronted = (await (await fetch(`http://127.0.0.1:${frontPort}/open/a`, { headers: forged })).json()) as IncomingHttpHeaders;
    expect(fronted["x-real-ip"]).toBe("127.0.0.1");
    expect(fronted["x-forwarded-for"]).toBe("127.0.0.1");
    expect(JSON.stringify(fronted)).not.toContain("203.0.113.77");
  });

  it("keeps per-IP limits: a new forged address per request does not buy more", async () => {
    seen.length = 0;
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const response = await fetch(`http://127.0.0.1:${frontPort}/limited/x`, { headers: { "cf-connecting-ip": `198.51.100.${i}` } });
      statuses.push(response.status);
      await response.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(seen).toHaveLength(3);
  });

  it("serves the admin page through it", async () => {
    const page = await fetch(`http://127.0.0.1:${frontPort}/__gateway/admin/`, {
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });
  it.each([
    ["an asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n", 405, "method-not-allowed"],
    ["an authority-form target", "GET 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1\r\n", 400, "bad-request"],
    ["a request Node cannot parse", "GET /open/a HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n", 400, "bad-request"],
    ["CONNECT", "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n", 405, "method-not-allowed"],
    ["two Host headers", "GET /open/a HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: other.example\r\n", 400, "invalid-host"],
    ["a Host with a space", "GET /open/a HTTP/1.1\r\nHost: a example\r\n", 400, "invalid-host"],
    ["a Host with a slash", "GET /open/a HTTP/1.1\r\nHost: a.example/admin\r\n", 400, "invalid-host"],
    ["an absolute-form target with user info", "GET http://user@a.example/open/a HTTP/1.1\r\nHost: a.example\r\n", 400, "invalid-host"],
  ])("answers %s as the gateway would: %i problem+json, no stack trace, nothing forwarded", async (_name, head, status, code) => {
    seen.length = 0;
    const raw = await rawExchange(frontPort, `${head}Connection: close\r\n\r\n`);
    expect(raw.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as { type: string; status: number };
    expect(body).toMatchObject({ type: `urn:edgegate:problem:${code}`, status });
    expect(raw.toLowerCase()).toContain("content-type: application/problem+json");
    expect(raw).not.toMatch(/ at |file:|\.js:\d/);
    expect(seen).toHaveLength(0);
  });

  it.each([
    ["chunked", "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["Content-Length", "Content-Length: 3\r\n\r\nabc"],
  ])("refuses a GET with a body (%s) with the document the gateway itself writes for it", async (_name, rest) => {
    seen.length = 0;
    const request = `GET /open/a HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${rest}`;
    const problem = (raw: string) => JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
    const direct = await rawExchange(gatewayPort, request);
    const fronted = await rawExchange(frontPort, request);
    expectProblem(fronted, 400, "body-not-allowed");
    const { requestId: _direct, ...gatewaySays } = problem(direct);
    const { requestId: _fronted, ...frontSays } = problem(fronted);
    expect(frontSays).toEqual(gatewaySays);
    expect(seen).toHaveLength(0);
  });

  it("turns an absolute-form target into the origin-form request it stands for, its authority the Host", async () => {
    seen.length = 0;
    const raw = await rawExchange(
      frontPort,
      "GET http://127.0.0.1/open/abs?x=1 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n",
    );
    expect(raw.startsWith("HTTP/1.1 200 ")).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.["x-forwarded-host"]).toBe("127.0.0.1");
  });
});

describe("front proxy in front of wrangler dev itself: wrangler's /cdn-cgi/ endpoints never answer through it", () => {
  const KV = "/cdn-cgi/explorer/api/storage/kv/namespaces/00000000000000000000000000000000/values";
  let dev: ChildProcess;
  let devPort: number;
  let frontPort: number;
  let front: FrontProxy;
  let output = "";

  beforeAll(async () => {
    [devPort, frontPort] = await freePorts(2);
    // Its own state directory: nothing of this test reaches the local KV npm start serves from.
    const state = mkdtempSync(join(tmpdir(), "edgegate-front-wrangler-"));
    dev = spawn(
      process.execPath,
      [
        WRANGLER,
        "dev",
        "--local",
        "--ip",
        "127.0.0.1",
        "--port",
        String(devPort),
        "--persist-to",
        state,
        "--var",
        `ADMIN_TOKEN:${ADMIN_TOKEN}`,
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    dev.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    dev.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const deadline = Date.now() + 100_000;
    while (!(await fetch(`http://127.0.0.1:${devPort}/__gateway/health`).catch(() => undefined))) {
      if (dev.exitCode !== null) throw new Error(`wrangler dev exited with ${dev.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`wrangler dev did not serve in time:\n${output}`);
      await sleep(250);
    }
    front = await startFrontProxy({ port: frontPort, hosts: ["127.0.0.1"], target: { host: "127.0.0.1", port: devPort } });
  }, 110_000);

  afterAll(async () => {
    await front?.close();
    if (!dev || dev.exitCode !== null) return;
    await new Promise<void>((done) => {
      dev.once("exit", () => done());
      dev.kill("SIGINT");
    });
  }, 30_000);

  // The spellings wrangler dev routes to its own endpoints: the exact one, and whatever the URL
  // parser resolves to it. (Case, "//", "%63" and "\" reach the Worker; the front door refuses
  // them too, above.)
  it.each([
    ["POST", "/cdn-cgi/handler/scheduled"],
    ["POST", "/cdn-cgi/mf/scheduled"],
    ["GET", "/cdn-cgi/explorer/api/storage/kv/namespaces"],
    ["POST", "/./cdn-cgi/handler/scheduled"],
    ["POST", "/x/../cdn-cgi/mf/scheduled"],
    ["GET", "/%2e/cdn-cgi/explorer/api/storage/kv/namespaces"],
    ["GET", "/%2E%2E/cdn-cgi/explorer/api/storage/kv/namespaces"],
  ])("%s %s: wrangler's own answer on its port, 404 route-not-found through the front door", async (method, target) => {
    const request = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    const direct = await rawExchange(devPort, request);
    // Not the gateway's: wrangler's scheduled handlers fail with a 500 in plain text, the Local
    // Explorer lists the namespaces.
    expect(direct.toLowerCase()).not.toContain("application/problem+json");
    expectProblem(await rawExchange(frontPort, request), 404, "route-not-found");
  });

  it("the Local Explorer's KV API cannot write through the front door (it can on wrangler's own port)", async () => {
    const key = `front-${crypto.randomUUID()}`;
    const write = `PUT ${KV}/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\nConnection: close\r\n\r\nforged`;
    expectProblem(await rawExchange(frontPort, write), 404, "route-not-found");
    expect((await fetch(`http://127.0.0.1:${devPort}${KV}/${key}`)).status).toBe(404);
    // Why the README says to use the documented port only: wrangler's own accepts the write.
    expect(statuses(await rawExchange(devPort, write))).toEqual([200]);
    expect(await (await fetch(`http://127.0.0.1:${devPort}${KV}/${key}`)).text()).toBe("forged");
  });
});
