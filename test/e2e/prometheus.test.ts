/**
 * A real Prometheus (Debian's, started here on a free port) scrapes the gateway's fleet metrics
 * while wrk loads it: the request rate and the p99 that PromQL computes from the scraped counters
 * and histogram match what wrk measured, within stated tolerances. The same Prometheus loads the
 * alert rules (docs/prometheus/alerts.yml) and runs every panel query of the Grafana dashboard
 * (docs/grafana/edgegate.json) without error.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWrk, type WrkResult } from "../../scripts/bench/tools.ts";
import { type RunningWorkerd, startWorkerd } from "../../scripts/bench/workerd.ts";
import { freePort } from "../../scripts/lib/free-port.ts";
import { publishConfig } from "../../src/config/store.ts";
import { recordRuntimeOutput } from "../harness/runtime-log.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const BUNDLE = resolve(ROOT, ".e2e/gateway/index.js");
const ALERTS = resolve(ROOT, "docs/prometheus/alerts.yml");
const DASHBOARD = resolve(ROOT, "docs/grafana/edgegate.json");
const ADMIN = `prom-${crypto.randomUUID()}`;
const ROUTE = "load";
/** The origin holds each answer this long, so latency sits well inside one bucket pair. */
const ORIGIN_DELAY_MS = 30;
const LOAD_SECONDS = 12;
/**
 * Tolerances: the rate within 10% of wrk's (Prometheus extrapolates rate() over 1 s scrapes); the p99
 * within a bucket's width (a factor of 2.5, the widest ratio between neighbouring bounds) of wrk's,
 * since histogram_quantile interpolates linearly inside the bucket the quantile falls in.
 */
const RATE_TOLERANCE = 0.1;
const P99_FACTOR = 2.5;

const execFileAsync = promisify(execFile);

let origin: Server;
let workerd: RunningWorkerd;
let prometheus: ChildProcess;
let promUrl: string;
let gatewayPort: number;
let dir: string;
let wrk: WrkResult;
let loadEndedAt: number;

async function promQuery(
  expr: string,
  time?: number,
): Promise<{ status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }> {
  const params = new URLSearchParams({ query: expr, ...(time !== undefined && { time: String(time) }) });
  const response = await fetch(`${promUrl}/api/v1/query?${params}`);
  return (await response.json()) as never;
}

async function untilTrue(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgegate-prom-"));
  origin = createServer((_req, res) => {
    setTimeout(() => res.end("ok"), ORIGIN_DELAY_MS);
  });
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

  gatewayPort = await freePort();
  workerd = await startWorkerd(
    dir,
    [
      {
        name: "gateway",
        modulePath: BUNDLE,
        port: gatewayPort,
        gateway: true,
        bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "0", ADMIN_TOKEN: ADMIN },
      },
    ],
    { cpu: 0, output: (line) => recordRuntimeOutput("prometheus", line) },
  );
  const published = await publishConfig(
    workerd.kv,
    { clusters: { app: { targets: [{ url: originUrl }] } }, routes: [{ id: ROUTE, match: { path: "/*" }, cluster: "app" }] },
    { allowPrivateUpstreams: true },
  );
  if (!published.ok) throw new Error(JSON.stringify(published.issues));
  await untilTrue("the gateway loads the config", async () => {
    const health = (await (await fetch(`http://127.0.0.1:${gatewayPort}/__gateway/health`)).json()) as {
      config: { version: string | null };
    };
    return health.config.version === published.version;
  });

  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "rule_files:",
      `  - ${JSON.stringify(ALERTS)}`,
      "scrape_configs:",
      "  - job_name: edgegate",
      "    metrics_path: /__gateway/admin/metrics",
      "    authorization:",
      `      credentials: ${JSON.stringify(ADMIN)}`,
      "    static_configs:",
      `      - targets: ["127.0.0.1:${gatewayPort}"]`,
      "",
    ].join("\n"),
  );
  prometheus = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--web.enable-lifecycle",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  prometheus.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line !== "") recordRuntimeOutput("prometheus", line);
  });
  await untilTrue("Prometheus is ready", async () => (await fetch(`${promUrl}/-/ready`)).ok);
  await untilTrue("Prometheus scrapes the gateway", async () => {
    const up = await promQuery('up{job="edgegate"}');
    return up.data?.result[0]?.value[1] === "1";
  });

  // wrk on the other CPU, with few enough connections to stay below the gateway's saturation: a
  // queue in front of the Worker would add to wrk's latency what no server-side histogram can see.
  ({ result: wrk } = await runWrk(`http://127.0.0.1:${gatewayPort}/item`, { seconds: LOAD_SECONDS, connections: 4, cpu: 1 }));
  loadEndedAt = Date.now() / 1000;
  // Two scrapes after the load, so the last interval is in.
  await new Promise((r) => setTimeout(r, 2_500));
}, 120_000);

afterAll(async () => {
  prometheus?.kill("SIGTERM");
  await workerd?.stop();
  await new Promise((r) => origin?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a real Prometheus scraping the fleet metrics", () => {
  it("computes the request rate wrk measured, within 10%", async () => {
    expect(wrk.errors).toBe(0);
    expect(wrk.requests).toBeGreaterThan(200);
    // A window inside the load: it ends a second before wrk did and starts well after it began.
    const window = LOAD_SECONDS - 4;
    const answer = await promQuery(`sum(rate(http_requests_total{route="${ROUTE}"}[${window}s]))`, loadEndedAt - 1);
    expect(answer.status).toBe("success");
    const rate = Number(answer.data?.result[0]?.value[1]);
    expect(Math.abs(rate - wrk.rps) / wrk.rps, `Prometheus ${rate.toFixed(1)} req/s, wrk ${wrk.rps} req/s`).toBeLessThan(RATE_TOLERANCE);
  });

  it("computes a p99 from the histogram within a bucket's width of wrk's p99", async () => {
    const window = LOAD_SECONDS - 4;
    const answer = await promQuery(
      `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{route="${ROUTE}"}[${window}s])))`,
      loadEndedAt - 1,
    );
    expect(answer.status).toBe("success");
    const p99Ms = Number(answer.data?.result[0]?.value[1]) * 1000;
    // The origin's own delay is a floor for both.
    expect(p99Ms).toBeGreaterThanOrEqual(ORIGIN_DELAY_MS * 0.9);
    const seen = `Prometheus p99 ${p99Ms.toFixed(1)} ms, wrk p99 ${wrk.p99Ms} ms`;
    expect(p99Ms / wrk.p99Ms, seen).toBeLessThan(P99_FACTOR);
    expect(wrk.p99Ms / p99Ms, seen).toBeLessThan(P99_FACTOR);
  });

  it("loads every alert rule of docs/prometheus/alerts.yml, and promtool finds them valid", async () => {
    const { stdout } = await execFileAsync("promtool", ["check", "rules", ALERTS]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
    await untilTrue("the rules are evaluated", async () => {
      const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
        data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
      };
      const all = rules.data.groups.flatMap((group) => group.rules);
      return all.length >= 7 && all.every((rule) => rule.health === "ok");
    });
  });

  it("runs every panel query of the Grafana dashboard without error", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const queries = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })));
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      // Grafana's variables as it would fill them in.
      const concrete = expr.replaceAll("$__rate_interval", "1m").replaceAll("$route", ".*");
      const answer = await promQuery(concrete);
      expect({ panel, expr, status: answer.status, error: answer.error }).toEqual({ panel, expr, status: "success", error: undefined });
    }
    // The request panels find the load's series.
    const rps = await promQuery(
      dashboard.panels[0]?.targets[0]?.expr.replaceAll("$__rate_interval", "1m").replaceAll("$route", ".*") ?? "",
    );
    expect(rps.data?.result.some((series) => series.metric.route === ROUTE)).toBe(true);
  });
});
