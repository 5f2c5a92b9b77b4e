/**
 * `npm run bench`: route-match cost by table size, and HTTP throughput/latency/CPU of the gateway
 * against a bare passthrough Worker, both on workerd directly (Miniflare with direct sockets, so no
 * dev proxy sits in front), proxying to the same nginx origin. Rewrites BENCHMARKS.md.
 *
 * Placement on a 2-core machine: workerd pinned to CPU 0; nginx and wrk share CPU 1.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { publishConfig } from "../../src/config/store.ts";
import { type MatchResult, measureMatch, median } from "./match.ts";
import { benchRoutes } from "./routes.ts";
import { cpuMicros, ensureTools, findWorkerdPid, freePort, peakRssMiB, pin, runWrk, startNginx, type WrkResult } from "./tools.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bench");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WORKERD_CPU = 0;
const LOAD_CPU = 1;

interface Scenario {
  name: string;
  url: string;
  /** Prepares the scenario (e.g. publishes a config) before its warm-up. */
  setup?: () => Promise<void>;
  /** Whether workerd serves it (CPU per request is then measured on the workerd process). */
  onWorkerd: boolean;
}

interface ScenarioResult {
  name: string;
  runs: Array<WrkResult & { cpuUsPerRequest: number }>;
  command: string;
}

const med = (rs: ScenarioResult, pick: (r: ScenarioResult["runs"][number]) => number) => median(rs.runs.map(pick));
const spread = (rs: ScenarioResult, pick: (r: ScenarioResult["runs"][number]) => number) => {
  const values = rs.runs.map(pick);
  return `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;
};

function version(command: string, args: string[]): string {
  const out = spawnSync(command, args, { encoding: "utf8" });
  return (
    `${out.stdout}${out.stderr}`
      .split("\n")
      .find((line) => line.trim())
      ?.trim() ?? "unknown"
  );
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  ensureTools();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });

  console.log("route match cost (10 / 1,000 / 10,000 routes)...");
  const match = measureMatch([10, 1_000, 10_000]);

  console.log("building the gateway bundle...");
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", resolve(WORK, "gateway")], { cwd: ROOT, stdio: "ignore" });

  const originPort = await freePort();
  const nginx = startNginx(WORK, originPort, LOAD_CPU);
  const origin = `http://127.0.0.1:${originPort}`;
  await waitFor(async () => (await fetch(`${origin}/`)).ok, "nginx");

  const gatewayPort = await freePort();
  const passthroughPort = await freePort();
  const wranglerToml = readFileSync(resolve(ROOT, "wrangler.toml"), "utf8");
  const compatibilityDate = /compatibility_date\s*=\s*"([^"]+)"/.exec(wranglerToml)?.[1] ?? "2026-11-01";
  // Written in the flat (v4) option shape, which Miniflare 5 converts to its own.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers: [
        {
          name: "gateway",
          modules: true,
          scriptPath: resolve(WORK, "gateway/index.js"),
          compatibilityDate,
          kvNamespaces: ["CONFIG"],
          bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "500" },
          unsafeDirectSockets: [{ host: "127.0.0.1", port: gatewayPort }],
        },
        {
          name: "passthrough",
          modules: true,
          scriptPath: resolve(import.meta.dirname, "passthrough.js"),
          compatibilityDate,
          bindings: { ORIGIN: origin },
          unsafeDirectSockets: [{ host: "127.0.0.1", port: passthroughPort }],
        },
      ],
    }),
  );
  await mf.ready;
  const workerd = findWorkerdPid();
  pin(workerd, WORKERD_CPU);
  const kv = await mf.getKVNamespace("CONFIG", "gateway");
  const gateway = `http://127.0.0.1:${gatewayPort}`;

  const useRoutes = (n: number) => async () => {
    const published = await publishConfig(kv, benchRoutes(n, origin), { allowPrivateUpstreams: true });
    if (!published.ok) throw new Error(JSON.stringify(published.issues.slice(0, 3)));
    await waitFor(async () => {
      const health = (await (await fetch(`${gateway}/__gateway/health`)).json()) as { config: { version: string } };
      return health.config.version === published.version;
    }, `config with ${n} routes`);
  };

  const scenarios: Scenario[] = [
    { name: "nginx direct (baseline, no Worker)", url: `${origin}/hello`, onWorkerd: false },
    { name: "bare passthrough Worker", url: `http://127.0.0.1:${passthroughPort}/hello`, onWorkerd: true },
    { name: "edgegate, routed GET, 10 routes", url: `${gateway}/bench/hello`, setup: useRoutes(10), onWorkerd: true },
    { name: "edgegate, routed GET, 10,000 routes", url: `${gateway}/bench/hello`, setup: useRoutes(10_000), onWorkerd: true },
  ];

  // Rounds interleave the contenders (A B C D, A B C D, ...) so that drift in the machine's speed
  // over the run lands on all of them alike instead of on whichever ran last.
  const results: ScenarioResult[] = scenarios.map((scenario) => ({ name: scenario.name, runs: [], command: "" }));
  try {
    for (let round = 0; round < RUNS; round++) {
      for (const [index, scenario] of scenarios.entries()) {
        await scenario.setup?.();
        const check = await fetch(scenario.url);
        if (check.status !== 200) throw new Error(`${scenario.name}: ${scenario.url} answered ${check.status}`);
        await check.text();
        runWrk(scenario.url, { seconds: 2, connections: CONNECTIONS, cpu: LOAD_CPU });
        const cpuBefore = scenario.onWorkerd ? cpuMicros(workerd) : 0;
        const run = runWrk(scenario.url, { seconds: SECONDS, connections: CONNECTIONS, cpu: LOAD_CPU });
        const cpuUsed = scenario.onWorkerd ? cpuMicros(workerd) - cpuBefore : Number.NaN;
        const result = results[index] as ScenarioResult;
        result.command = run.command;
        result.runs.push({ ...run.result, cpuUsPerRequest: cpuUsed / run.result.requests });
        console.log(
          `round ${round + 1}, ${scenario.name}: ${run.result.rps.toFixed(0)} req/s, p99 ${run.result.p99Ms.toFixed(2)} ms, errors ${run.result.errors}`,
        );
      }
    }
  } finally {
    const rss = peakRssMiB(workerd);
    await mf.dispose();
    nginx.kill();
    writeReport(match, results, rss);
  }
}

function writeReport(match: MatchResult[], results: ScenarioResult[], workerdPeakRssMiB: number): void {
  const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix));
  const floor = byName("bare passthrough");
  const gw10 = byName("edgegate, routed GET, 10 routes");
  const gw10k = byName("edgegate, routed GET, 10,000");
  const rps = (r?: ScenarioResult) => (r ? med(r, (x) => x.rps) : Number.NaN);
  const p99 = (r?: ScenarioResult) => (r ? med(r, (x) => x.p99Ms) : Number.NaN);
  const matchAt = (n: number, pick: (m: MatchResult) => number[]) => median(pick(match.find((m) => m.routes === n) as MatchResult));
  const hotRatio = matchAt(10_000, (m) => m.hotNsPerLookup) / matchAt(10, (m) => m.hotNsPerLookup);
  const spreadRatio = matchAt(10_000, (m) => m.spreadNsPerLookup) / matchAt(10, (m) => m.spreadNsPerLookup);
  const throughputRatio = rps(gw10) / rps(floor);
  const verdict = (ok: boolean) => (ok ? "met" : "**not met**");

  const lines = [
    "# Benchmarks",
    "",
    "Generated by `npm run bench` (scripts/bench/run.ts); do not edit by hand.",
    "",
    `Run: ${new Date().toISOString()}, ${RUNS} rounds; each round runs every contender once (${SECONDS} s after a 2 s warm-up), wrk with 1 thread and ${CONNECTIONS} connections.`,
    "",
    "## Machine and versions",
    "",
    `- CPU: ${cpus()[0]?.model ?? "unknown"} x ${cpus().length}; Linux ${release()}`,
    `- Node ${process.version}; workerd ${version(resolve(ROOT, "node_modules/.bin/workerd"), ["--version"])}; wrangler ${version("wrangler", ["--version"])}`,
    `- ${version("nginx", ["-v"])}; ${version("wrk", ["--version"])}`,
    "- Placement: workerd pinned to CPU 0 (taskset), nginx and wrk pinned to CPU 1.",
    "",
    "## Goals",
    "",
    "| goal | target | measured | |",
    "| --- | --- | --- | --- |",
    `| route match cost, 10,000 vs 10 routes, same hot routes | <= 1.5x | ${hotRatio.toFixed(2)}x | ${verdict(hotRatio <= 1.5)} |`,
    `| gateway throughput vs bare passthrough, plain routed GET | >= 0.85x | ${throughputRatio.toFixed(2)}x | ${verdict(throughputRatio >= 0.85)} |`,
    "",
    `With requests spread over up to 1,024 distinct routes the 10,000-route table costs ${spreadRatio.toFixed(2)}x the 10-route one: the working set grows from 10 route matchers to ~1,000 (the hot-route row above holds it fixed to isolate the effect of table size).`,
    "",
    "## Route match cost",
    "",
    "`RouteTable.lookup` (host group, first-segment shard, Hono router, method check) on Node's V8, the engine workerd embeds; 1,000,000 lookups per run over 1,024 request paths (one in ten a miss), 5 runs after a warm-up run.",
    "",
    "| routes | compile (ms) | snapshot heap (MiB) | hot 10 routes, ns/lookup (median, runs) | spread over 1,024 routes, ns/lookup (median, runs) |",
    "| ---: | ---: | ---: | --- | --- |",
    ...match.map(
      (m) =>
        `| ${m.routes.toLocaleString("en")} | ${m.compileMs.toFixed(0)} | ${m.heapMiB.toFixed(1)} | ${median(m.hotNsPerLookup).toFixed(0)} (${m.hotNsPerLookup.map((x) => x.toFixed(0)).join(", ")}) | ${median(m.spreadNsPerLookup).toFixed(0)} (${m.spreadNsPerLookup.map((x) => x.toFixed(0)).join(", ")}) |`,
    ),
    "",
    "## HTTP",
    "",
    "Throughput at saturation and latency under it, through each contender to the same nginx origin (a 47-byte JSON body, keepalive on both sides). CPU per request is the workerd process's utime+stime delta over a run divided by the requests in it.",
    "",
    "| contender | req/s median (min-max) | vs passthrough | p50 ms | p99 ms | p99 vs passthrough | CPU us/req | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.map((r) => {
      const isWorkerd = !Number.isNaN(r.runs[0]?.cpuUsPerRequest ?? Number.NaN);
      return `| ${r.name} | ${med(r, (x) => x.rps).toFixed(0)} (${spread(r, (x) => x.rps)}) | ${(rps(r) / rps(floor)).toFixed(2)}x | ${med(r, (x) => x.p50Ms).toFixed(2)} | ${p99(r).toFixed(2)} | ${(p99(r) / p99(floor)).toFixed(2)}x | ${isWorkerd ? med(r, (x) => x.cpuUsPerRequest).toFixed(0) : "-"} | ${r.runs.reduce((a, x) => a + x.errors, 0)} |`;
    }),
    "",
    `10,000 routes vs 10 routes through the gateway: ${(rps(gw10k) / rps(gw10)).toFixed(2)}x throughput. workerd peak RSS over the whole run (both Workers, 10,000-route snapshot included): ${workerdPeakRssMiB.toFixed(0)} MiB.`,
    "",
    "### Raw runs",
    "",
    "| contender | run | requests | req/s | p50 ms | p99 ms | CPU us/req | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.flatMap((r) =>
      r.runs.map(
        (x, i) =>
          `| ${r.name} | ${i + 1} | ${x.requests} | ${x.rps.toFixed(0)} | ${x.p50Ms.toFixed(2)} | ${x.p99Ms.toFixed(2)} | ${Number.isNaN(x.cpuUsPerRequest) ? "-" : x.cpuUsPerRequest.toFixed(1)} | ${x.errors} |`,
      ),
    ),
    "",
    "### Commands and configs",
    "",
    `- Load: ${results[0]?.command.replace(/http:\/\/\S+/, "URL") ?? ""}`,
    "- workerd: Miniflare with `unsafeDirectSockets` (the request goes straight to the Worker, no entry proxy), the bundle from `wrangler deploy --dry-run`.",
    "- Passthrough Worker: scripts/bench/passthrough.js. Gateway configs: scripts/bench/routes.ts (the benchmarked route comes last in config order).",
    "- Origin: nginx, config from scripts/bench/tools.ts (`worker_processes 1`, `access_log off`, keepalive).",
    "",
  ];
  writeFileSync(resolve(ROOT, "BENCHMARKS.md"), lines.join("\n"));
  console.log(lines.slice(lines.indexOf("## Goals"), lines.indexOf("## Route match cost")).join("\n"));
  console.log("wrote BENCHMARKS.md");
}

await main();
