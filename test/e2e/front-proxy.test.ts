/**
 * The dev stack's front proxy (scripts/lib/front-proxy.ts) over real sockets: a client-sent
 * CF-Connecting-IP never reaches what is behind it, in any spelling or number, on plain requests
 * and upgrades; bodies stream both ways; and in front of the gateway as wrangler dev serves it
 * (workerd behind Miniflare's entry Worker, which keeps a client-sent value), per-IP limits hold.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../../scripts/lib/free-port.ts";
import { type FrontProxy, startFrontProxy } from "../../scripts/lib/front-proxy.ts";
import { gatewayWorkerOptions } from "../../scripts/lib/gateway-worker.ts";
import { recordStructuredLogs } from "../harness/runtime-log.ts";

const BUNDLE = resolve(import.meta.dirname, "../../.e2e/gateway");
const ADMIN_TOKEN = `front-${crypto.randomUUID()}`;

/** What the origin saw: every request's headers, upgrades included. */
const seen: IncomingHttpHeaders[] = [];
let releaseStream: () => void = () => {};

let origin: Server;
let originPort: number;
let proxy: FrontProxy;
let proxyPort: number;

function listen(server: Server, port: number): Promise<void> {
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done()));
}

/** Sends `head` verbatim on a raw socket and resolves with everything read until the peer closes. */
function rawExchange(port: number, head: string, host = "127.0.0.1"): Promise<string> {
  return new Promise((done, fail) => {
    const socket = connect(port, host);
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString("utf8")));
    socket.once("error", fail);
    socket.once("close", () => done(text));
    socket.write(head);
  });
}

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
      let bytes = 0;
      req.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on("end", () => res.end(JSON.stringify({ bytes, sha256: hash.digest("hex") })));
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
