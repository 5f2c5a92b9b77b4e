/**
 * `npm start` as a developer runs it (scripts/dev.ts: wrangler dev behind the front proxy, the demo
 * origin, the local Upstash), with a config of this test's own: a client-sent CF-Connecting-IP does
 * not reach the Worker, per-IP limits hold against a forged address per request, uploads stream
 * through, the admin page answers, and a save of the config file is published (an invalid one is
 * not). The demo origin needs port 8788, as in the README.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/free-port.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const DEMO_ORIGIN_PORT = 8788;

let dev: ChildProcess;
let configFile: string;
let configDocument: { clusters: unknown; routes: unknown[] };
let gateway: string;
let adminToken: string;
let output = "";

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

interface Echo {
  headers: Record<string, string>;
  bodyBytes: number;
}

beforeAll(async () => {
  if (!(await portFree(DEMO_ORIGIN_PORT)))
    throw new Error(`port ${DEMO_ORIGIN_PORT} is in use (is npm start running?): the demo origin needs it`);
  const dir = mkdtempSync(join(tmpdir(), "edgegate-dev-"));
  configFile = join(dir, "config.json");
  configDocument = {
    clusters: { demo: { targets: [{ url: `http://127.0.0.1:${DEMO_ORIGIN_PORT}` }] } },
    routes: [
      { id: "echo", match: { path: "/echo/*" }, cluster: "demo" },
      {
        // wrangler dev keeps Durable Object state between runs: a fresh id is a fresh counter.
        id: `limited-${crypto.randomUUID().slice(0, 8)}`,
        match: { path: "/limited/*" },
        cluster: "demo",
        rateLimits: [{ id: "per-ip", algorithm: "fixed-window", limit: 3, windowSec: 600, key: ["ip"] }],
      },
    ],
  };
  writeFileSync(configFile, JSON.stringify(configDocument));
  const port = await freePort();
  gateway = `http://127.0.0.1:${port}`;
  dev = spawn(process.execPath, [resolve(ROOT, "scripts/dev.ts")], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), EDGEGATE_CONFIG: configFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  dev.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  dev.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const deadline = Date.now() + 110_000;
  for (;;) {
    if (dev.exitCode !== null) throw new Error(`npm start exited with ${dev.exitCode}:\n${output}`);
    const health = await fetch(`${gateway}/__gateway/health`).catch(() => undefined);
    if (health?.ok && ((await health.json()) as { config: { state: string } }).config.state === "loaded") break;
    if (Date.now() > deadline) throw new Error(`npm start did not serve in time:\n${output}`);
    await new Promise((done) => setTimeout(done, 250));
  }
  adminToken = /ADMIN_TOKEN=([0-9a-f-]+)/.exec(output)?.[1] ?? "";
}, 120_000);

afterAll(async () => {
  if (!dev || dev.exitCode !== null) return;
  await new Promise<void>((done) => {
    dev.once("exit", () => done());
    dev.kill("SIGINT");
  });
}, 30_000);

describe("npm start", () => {
  it("sets CF-Connecting-IP from the socket: a forged value does not reach the Worker", async () => {
    const response = await fetch(`${gateway}/echo/a`, { headers: { "cf-connecting-ip": "203.0.113.77" } });
    const echo = (await response.json()) as Echo;
    expect(echo.headers["x-real-ip"]).toBe("127.0.0.1");
    expect(echo.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(JSON.stringify(echo)).not.toContain("203.0.113.77");
  });

  it("keeps per-IP limits against a new forged address per request", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const response = await fetch(`${gateway}/limited/x`, { headers: { "cf-connecting-ip": `198.51.100.${i}` } });
      statuses.push(response.status);
      await response.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it("streams an upload through to the origin", async () => {
    const bytes = 4 << 20;
    const response = await fetch(`${gateway}/echo/upload`, { method: "POST", body: new Uint8Array(bytes) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as Echo).bodyBytes).toBe(bytes);
  });

  it("serves the admin page", async () => {
    const page = await fetch(`${gateway}/__gateway/admin/`, { headers: { authorization: `Basic ${btoa(`dev:${adminToken}`)}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });

  it("publishes the config file when it is saved, and keeps serving it when a save is invalid", async () => {
    const servedVersion = async () =>
      ((await (await fetch(`${gateway}/__gateway/health`)).json()) as { config: { version: string } }).config.version;
    const before = await servedVersion();
    const saved = { ...configDocument, routes: [...configDocument.routes, { id: "saved", match: { path: "/saved/*" }, cluster: "demo" }] };
    writeFileSync(configFile, JSON.stringify(saved, null, 2));
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((done) => setTimeout(done, 100));
      const response = await fetch(`${gateway}/saved/a`);
      status = response.status;
      await response.body?.cancel();
    }
    expect(status).toBe(200);
    const after = await servedVersion();
    expect(after).not.toBe(before);
    expect(output).toContain(`published ${configFile} as version ${after} (was ${before})`);

    const mark = output.length;
    writeFileSync(
      configFile,
      JSON.stringify({ ...saved, routes: [...saved.routes, { id: "broken", match: { path: "/b" }, cluster: "nope" }] }),
    );
    const refused = `${configFile}: not published; the gateway keeps serving ${after}`;
    for (let i = 0; i < 100 && !output.includes(refused, mark); i++) await new Promise((done) => setTimeout(done, 100));
    const block = output.slice(mark);
    expect(block).toContain(`${configFile}: 1 problem\n  routes[3].cluster: `);
    expect(block).toContain(refused);
    expect(await servedVersion()).toBe(after);
    expect((await fetch(`${gateway}/saved/a`)).status).toBe(200);
  });
});
