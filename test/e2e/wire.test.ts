/**
 * The gateway on the wire: the deploy bundle on plain `workerd serve` (no dev proxy in front),
 * raw HTTP/1.1 from the client side, and an origin that reads the socket itself. What only the wire
 * shows: a body the gateway stops never reaches the origin as a complete request (the upstream
 * connection is torn down mid-body); malformed requests get a 4xx problem of their own, never a
 * 500; broken upstream answers get a 502; and none of the client's doing moves a target's breaker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorkerd, startWorkerd } from "../../scripts/bench/workerd.ts";
import { freePort } from "../../scripts/lib/free-port.ts";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { publishConfig } from "../../src/config/store.ts";
import { parseResponse, type RawOrigin, rawExchange, startRawOrigin } from "../harness/raw-origin.ts";
import { recordRuntimeOutput } from "../harness/runtime-log.ts";

const BUNDLE = resolve(import.meta.dirname, "../../.e2e/gateway/index.js");
const ADMIN = "wire-admin-token";

let origin: RawOrigin;
let shadow: RawOrigin;
let workerd: RunningWorkerd;
let port: number;
let dir: string;

function config(): GatewayConfigInput {
  return {
    clusters: {
      app: { targets: [{ url: origin.url }], breaker: { minRequests: 5, reportIntervalMs: 100 } },
      shadow: { targets: [{ url: shadow.url }] },
      // Only client abuse goes here: its breaker must see nothing.
      guarded: { targets: [{ url: origin.url }], breaker: { minRequests: 5, reportIntervalMs: 100 } },
    },
    routes: [
      { id: "guarded-limited", match: { path: "/guarded/limited/*" }, cluster: "guarded", maxBodyBytes: 1024 },
      { id: "guarded", match: { path: "/guarded/*" }, cluster: "guarded" },
      { id: "limited", match: { path: "/limited/*" }, cluster: "app", maxBodyBytes: 1024 },
      { id: "big", match: { path: "/big/*" }, cluster: "app", maxBodyBytes: 65_536 },
      {
        id: "mirrored",
        match: { path: "/mirrored/*" },
        cluster: "app",
        maxBodyBytes: 1024,
        mirror: { cluster: "shadow", percent: 100, maxBodyBytes: 1_000_000 },
      },
      { id: "all", match: { path: "/*" }, cluster: "app" },
    ],
  };
}

beforeAll(async () => {
  origin = await startRawOrigin();
  shadow = await startRawOrigin();
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "edgegate-wire-"));
  workerd = await startWorkerd(
    dir,
    [
      {
        name: "gateway",
        modulePath: BUNDLE,
        port,
        gateway: true,
        bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "0", ADMIN_TOKEN: ADMIN },
      },
    ],
    // The gateway's log and workerd's own lines go to the run's file: a failed test shows its lines.
    { cpu: 0, output: (line) => recordRuntimeOutput("wire", line) },
  );
  const published = await publishConfig(workerd.kv, config(), { allowPrivateUpstreams: true });
  if (!published.ok) throw new Error(JSON.stringify(published.issues));
  for (let i = 0; ; i++) {
    const health = (await (await fetch(`http://127.0.0.1:${port}/__gateway/health`)).json()) as { config: { version: string | null } };
    if (health.config.version === published.version) break;
    if (i > 200) throw new Error("the gateway did not load the config");
    await new Promise((r) => setTimeout(r, 25));
  }
});

afterAll(async () => {
  await workerd?.stop();
  await Promise.all([origin?.close(), shadow?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Sends a raw request; returns the parsed answer and the requests the origins saw meanwhile. */
async function send(parts: Array<string | Buffer>, options: { gapMs?: number; waitMs?: number; endWrite?: boolean } = {}) {
  const seen = origin.requests.length;
  const seenShadow = shadow.requests.length;
  const response = parseResponse(await rawExchange(port, parts, options));
  // Let a request the gateway forwarded (or tore down) settle at the origin.
  await new Promise((r) => setTimeout(r, 150));
  return { response, upstream: origin.requests.slice(seen), mirrored: shadow.requests.slice(seenShadow) };
}

function expectProblem(response: ReturnType<typeof parseResponse>, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers["content-type"]).toBe("application/problem+json");
  const problem = JSON.parse(response.body) as { type: string; status: number };
  expect(problem).toMatchObject({ type: `urn:edgegate:problem:${code}`, status });
  expect(response.body).not.toMatch(/stack|at \w+ \(|file:|127\.0\.0\.1/);
}

const chunk = (data: string) => `${data.length.toString(16)}\r\n${data}\r\n`;
// Connection: close, so that each exchange ends when the gateway has answered.
const post = (path: string, extra = "") => `POST ${path} HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\n${extra}`;
const chunked = (path: string) => `${post(path)}transfer-encoding: chunked\r\n\r\n`;

describe("on the wire: a body the gateway stops never reaches the origin complete", () => {
  it("forwards a well-formed upload byte for byte, with the client's framing", async () => {
    const chunkedUpload = await send([chunked("/limited/ok"), chunk("a".repeat(500)), chunk("b".repeat(500)), "0\r\n\r\n"]);
    expect(chunkedUpload.response.status).toBe(200);
    expect(chunkedUpload.upstream).toHaveLength(1);
    expect(chunkedUpload.upstream[0]?.complete).toBe(true);
    expect(chunkedUpload.upstream[0]?.body.toString()).toBe("a".repeat(500) + "b".repeat(500));

    const declared = await send([`${post("/limited/ok", "content-length: 11\r\n")}\r\nhello `, "world"]);
    expect(declared.response.status).toBe(200);
    expect(declared.upstream[0]?.headers["content-length"]).toBe("11");
    expect(declared.upstream[0]?.body.toString()).toBe("hello world");
  });

  it.each([
    ["4 KiB chunked over a 1 KiB limit", "/limited/x", 4, 1024],
    ["1 MiB chunked over a 64 KiB limit", "/big/x", 64, 16_384],
  ])("%s: 413, and the origin's request is cut off mid-body", async (_name, path, chunks, size) => {
    const parts = [chunked(path), ...Array.from({ length: chunks }, () => chunk("z".repeat(size))), "0\r\n\r\n"];
    const { response, upstream } = await send(parts, { gapMs: 5 });
    expectProblem(response, 413, "payload-too-large");
    expect(upstream.every((r) => !r.complete)).toBe(true);
  });

  it.each([
    ["a chunk size that is not hex", ["zz\r\nabc\r\n0\r\n\r\n"]],
    ["a chunk longer than its size", [chunk("fine"), "3\r\nabcdef\r\n0\r\n\r\n"]],
    ["a chunk without its CRLF", [chunk("fine"), "3\r\nabcXY0\r\n\r\n"]],
    ["a negative chunk size", [chunk("fine"), "-1\r\nabc\r\n0\r\n\r\n"]],
  ])("malformed chunked framing (%s): 400 incomplete-body, and the origin never executes it", async (_name, body) => {
    const { response, upstream } = await send([chunked("/anything/x"), ...body]);
    expectProblem(response, 400, "incomplete-body");
    expect(upstream.every((r) => !r.complete)).toBe(true);
  });

  it("a client that stops sending before its declared length: the origin's request is cut off", async () => {
    const { upstream } = await send([`${post("/anything/x", "content-length: 100\r\n")}\r\n`, "only twenty bytes.."], {
      endWrite: true,
      waitMs: 1_000,
    });
    expect(upstream.every((r) => !r.complete)).toBe(true);
  });

  it("a client that abandons a chunked upload: the origin's request is cut off", async () => {
    const { upstream } = await send([chunked("/anything/x"), chunk("first part of a larger upload")], { endWrite: true, waitMs: 1_000 });
    expect(upstream.every((r) => !r.complete)).toBe(true);
  });

  it("the mirror's copy of a body that stops short is cut off too", async () => {
    // Mirrors copy only bodies of declared length; this one declares 500 bytes and sends 100.
    const { upstream, mirrored } = await send([`${post("/mirrored/x", "content-length: 500\r\n")}\r\n`, "m".repeat(100)], {
      endWrite: true,
      waitMs: 1_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(upstream.every((r) => !r.complete)).toBe(true);
    expect(mirrored.every((r) => !r.complete)).toBe(true);
    expect([...shadow.requests].filter((r) => r.target === "/mirrored/x").every((r) => !r.complete)).toBe(true);
  });

  it("the mirror gets a complete copy of a complete body", async () => {
    await send([`${post("/mirrored/y", "content-length: 5\r\n")}\r\nhello`]);
    await new Promise((r) => setTimeout(r, 300));
    const copies = shadow.requests.filter((r) => r.target === "/mirrored/y");
    expect(copies).toHaveLength(1);
    expect(copies[0]?.complete).toBe(true);
    expect(copies[0]?.body.toString()).toBe("hello");
  });

  it("a mirrored body keeps the client's framing on both copies", async () => {
    const { upstream } = await send([`${post("/mirrored/framed", "content-length: 11\r\n")}\r\nhello `, "world"]);
    await new Promise((r) => setTimeout(r, 300));
    const copies = shadow.requests.filter((r) => r.target === "/mirrored/framed");
    for (const request of [upstream[0], copies[0]]) {
      expect(request?.headers["content-length"]).toBe("11");
      expect(request?.headers["transfer-encoding"]).toBeUndefined();
      expect(request?.body.toString()).toBe("hello world");
    }
  });
});

describe("on the wire: what is the client's fault is a 4xx of its own, never a 500", () => {
  const get = (extra: string, target = "/anything/x") => `GET ${target} HTTP/1.1\r\nconnection: close\r\n${extra}\r\n`;

  it.each([
    ["two Host headers", get("host: a.example\r\nhost: b.example\r\n")],
    ["a Host with a space", get("host: a example\r\n")],
    ["a Host with a slash", get("host: a.example/admin\r\n")],
    ["a Host with user info", get("host: user@a.example\r\n")],
    ["a Host with a query", get("host: a.example?x=1\r\n")],
    ["a Host with a port out of range", get("host: a.example:70000\r\n")],
  ])("%s: 400 invalid-host, nothing forwarded", async (_name, request) => {
    const { response, upstream } = await send([request]);
    expectProblem(response, 400, "invalid-host");
    expect(upstream).toHaveLength(0);
  });

  it("an asterisk-form target: 405 with Allow, nothing forwarded", async () => {
    const { response, upstream } = await send(["OPTIONS * HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\n\r\n"]);
    expectProblem(response, 405, "method-not-allowed");
    expect(response.headers.allow).toContain("GET");
    expect(upstream).toHaveLength(0);
  });

  it("CONNECT never reaches an origin nor opens a tunnel", async () => {
    // workerd answers CONNECT itself, before any Worker runs; on Cloudflare it never reaches one.
    const { response, upstream } = await send(["CONNECT gateway.test:443 HTTP/1.1\r\nhost: gateway.test:443\r\n\r\n"]);
    expect(response.status === 0 || response.status >= 400).toBe(true);
    expect(upstream).toHaveLength(0);
  });

  it.each([
    ["GET with a declared body", get("host: gateway.test\r\ncontent-length: 3\r\n").replace(/\r\n$/, "\r\nabc")],
    ["GET with a chunked body", `${get("host: gateway.test\r\ntransfer-encoding: chunked\r\n")}3\r\nabc\r\n0\r\n\r\n`],
    ["HEAD with a declared body", `HEAD /anything/x HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\ncontent-length: 3\r\n\r\nabc`],
  ])("%s: 400 body-not-allowed, no upstream called", async (_name, request) => {
    const { response, upstream } = await send([request]);
    if (request.startsWith("HEAD")) expect(response.status).toBe(400);
    else expectProblem(response, 400, "body-not-allowed");
    expect(upstream).toHaveLength(0);
  });

  it.each([
    [
      "the admin namespace spelled with backslashes, with the admin token",
      "/__gateway\\admin\\config",
      `authorization: Bearer ${ADMIN}\r\n`,
    ],
    ["backslashes climbing out of a route", "/anything\\..\\..\\secret", ""],
    ["a backslash inside a segment", "/anything/a\\b", ""],
    ["a dot segment with path parameters", "/anything/..;/secret", ""],
  ])("%s: 400 invalid-path, nothing forwarded", async (_name, target, extra) => {
    // The runtime hands the Worker a backslash as it came; fetch() would read it as '/' (and resolve '..').
    const { response, upstream } = await send([get(`host: gateway.test\r\n${extra}`, target)]);
    expectProblem(response, 400, "invalid-path");
    expect(upstream).toHaveLength(0);
    expect(response.body).not.toContain(ADMIN);
  });

  it("GET with a declared empty body is an ordinary GET", async () => {
    const { response, upstream } = await send([get("host: gateway.test\r\ncontent-length: 0\r\n")]);
    expect(response.status).toBe(200);
    expect(upstream).toHaveLength(1);
    expect(upstream[0]?.method).toBe("GET");
  });

  it.each([
    ["a status outside HTTP's range", "/status-999"],
    ["a 101 nobody asked for", "/unasked-upgrade"],
  ])("an upstream answering %s: 502 upstream-invalid-response", async (_name, path) => {
    const { response } = await send([get("host: gateway.test\r\n", path)]);
    expectProblem(response, 502, "upstream-invalid-response");
  });
});

describe("on the wire: no sequence of client requests moves a healthy target", () => {
  it("GETs with bodies, malformed and oversized uploads, abandoned uploads: the target stays closed, other routes unharmed", async () => {
    const abuse: Array<Array<string | Buffer>> = [
      [`GET /guarded/x HTTP/1.1\r\nhost: gateway.test\r\ncontent-length: 3\r\n\r\nabc`],
      [chunked("/guarded/x"), "zz\r\nabc\r\n0\r\n\r\n"],
      [chunked("/guarded/limited/x"), chunk("q".repeat(1000)), chunk("q".repeat(1000)), "0\r\n\r\n"],
      [`${post("/guarded/x", "content-length: 50\r\n")}\r\nshort`],
      [chunked("/guarded/x"), chunk("abandoned")],
    ];
    for (let round = 0; round < 10; round++) {
      await Promise.all(abuse.map((parts) => rawExchange(port, parts, { endWrite: true, waitMs: 1_500 })));
    }
    await new Promise((r) => setTimeout(r, 300));
    const ok = await fetch(`http://127.0.0.1:${port}/guarded/users/2`);
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    await new Promise((r) => setTimeout(r, 300));
    const status = (await (
      await fetch(`http://127.0.0.1:${port}/__gateway/admin/clusters/guarded`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json()) as { targets: Array<{ state: string; totals: { failures: number; ejections: number } }> };
    expect(status.targets[0]).toMatchObject({ state: "closed", totals: { failures: 0, ejections: 0 } });
  });
});
