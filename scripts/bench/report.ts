/**
 * BENCHMARKS.md and docs/benchmarks.svg from one benchmark run: the goals with verdicts, every
 * contender's figures with ratios, the micro-benchmarks, raw runs, versions, commands and configs.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { resolve } from "node:path";
import { benchmarkChart } from "./chart.ts";
import { CACHE_TTL_SEC, type CoalesceRun } from "./coalesce.ts";
import type { DiffResult } from "./diff.ts";
import { type MatchResult, median } from "./match.ts";
import type { VerifyResult } from "./micro.ts";
import type { WrkResult } from "./tools.ts";

/** What a case measures, so peers are compared with the equivalent edgegate case. */
export type CaseKind = "baseline" | "floor" | "plain" | "control" | "jwt" | "limit" | "breaker" | "chain" | "refusal";

export interface BenchCase {
  id: string;
  contender: string;
  name: string;
  kind: CaseKind;
  url: string;
  setup?: () => Promise<void>;
  /** Brings the case to its steady state after setup (e.g. every subject's first rate-limit lease). */
  prime?: () => Promise<void>;
  /** Request headers for the pre-flight check, and the tokens wrk sends in turn. */
  auth?: { headers: Record<string, string>; tokens: string[] };
  expectStatus?: number;
  /** The process CPU is charged to; none for the origin itself. */
  pid?: number;
}

export interface CaseRun extends WrkResult {
  cpuUsPerRequest: number;
  fixedRps: number;
  fixedP50Ms: number;
  fixedP99Ms: number;
  fixedErrors: number;
}

export interface CaseResult {
  case: BenchCase;
  runs: CaseRun[];
  command: string;
}

export interface EjectionRun {
  ms: number;
  /** Requests the failing target answered between starting to fail and its ejection. */
  failedRequests: number;
  /** Client requests per second during the run. */
  rps: number;
}

export interface ReportInput {
  root: string;
  work: string;
  settings: {
    quick: boolean;
    runs: number;
    seconds: number;
    warmSeconds: number;
    fixedSeconds: number;
    fixedRate: number;
    connections: number;
    fixedConnections: number;
  };
  match: MatchResult[];
  /** Config diff cost by route count (the validate endpoint and the CLI). */
  diff: DiffResult[];
  results: CaseResult[];
  verify: VerifyResult[];
  stage: { n: number; plainUs: number[]; jwtUs: number[] };
  rss: Record<string, number>;
  /** Requests that reached the origin nginx per client request, by case id (JWKS fetches included). */
  subrequests: Record<string, number>;
  /** Rate-limit backend calls per request over 1,000 requests after the runs, by case id. */
  limiterCalls: Record<string, number>;
  /** Breaker object calls per request over 1,000 requests after the runs, by case id. */
  breakerCalls: Record<string, number>;
  /** Runs of: an upstream starts failing under steady load; how long and how many requests until it is ejected. */
  ejections: EjectionRun[];
  coalescing: CoalesceRun[];
  minutes: number;
}

/** The first line a command prints of its version. */
export function version(command: string, args: string[]): string {
  const out = spawnSync(command, args, { encoding: "utf8" });
  return (
    `${out.stdout}${out.stderr}`
      .split("\n")
      .find((line) => line.trim())
      ?.trim() ?? "unknown"
  );
}

/** An installed npm package's version. */
export function packageVersion(root: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(resolve(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

const fixed = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "-");
const pct = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%` : "-");
const verdict = (ok: boolean) => (ok ? "met" : "**not met**");
/** The config diff at the schema's 20,000 routes: a small share of the CPU a Worker request may use. */
const DIFF_GOAL_MS = 250;

/** The summary table docs/deploy-bundle.md keeps between its summary markers, so this report repeats it as it stands. */
function deployBundleSummary(root: string): string[] {
  const doc = readFileSync(resolve(root, "docs/deploy-bundle.md"), "utf8");
  const summary = /<!-- summary:start -->\n([\s\S]*?)\n<!-- summary:end -->/.exec(doc)?.[1];
  return summary === undefined ? ["(docs/deploy-bundle.md has no summary table)"] : summary.split("\n");
}

export function writeReport(input: ReportInput): void {
  const { root, settings, match, diff, results, verify, stage, rss, subrequests, limiterCalls, breakerCalls, ejections, coalescing } =
    input;
  const med = (r: CaseResult | undefined, pick: (run: CaseRun) => number) => (r ? median(r.runs.map(pick)) : Number.NaN);
  const spread = (r: CaseResult, pick: (run: CaseRun) => number) => {
    const values = r.runs.map(pick);
    return `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;
  };
  const byId = (id: string) => results.find((r) => r.case.id === id);
  const rps = (r?: CaseResult) => med(r, (x) => x.rps);
  const cpu = (r?: CaseResult) => med(r, (x) => x.cpuUsPerRequest);
  const floor = byId("passthrough");
  const rewriting = byId("rewriting");
  const required = byId("required");
  const label = (r: CaseResult) => `${r.case.contender}: ${r.case.name}`;

  // The peer case a row is compared with: the same kind of work (plain proxying or the auth chain).
  // Rate-limit-only cases compare with plain proxying: no peer runs a limit without authentication.
  const peerFor = (contender: string, kind: CaseKind) =>
    results.find((r) => r.case.contender === contender && r.case.kind === (kind === "jwt" || kind === "chain" ? "chain" : "plain"));
  const peers = ["nginx", "HAProxy", "Node.js"];

  const eg1 = byId("eg-1");
  const eg1000 = byId("eg-1000");
  const chain = byId("eg-chain");
  const control = byId("eg-1000-token");
  const matchAt = (n: number, pick: (m: MatchResult) => number[]) => {
    const found = match.find((m) => m.routes === n);
    return found ? median(pick(found)) : Number.NaN;
  };
  const hotRatio = matchAt(10_000, (m) => m.hotNsPerLookup) / matchAt(10, (m) => m.hotNsPerLookup);
  const largestDiff = diff.find((d) => d.routes === 20_000);
  const diffMs = largestDiff ? median(largestDiff.msPerDiff) : Number.NaN;
  const stageAddedUs = median(stage.jwtUs) - median(stage.plainUs);
  const es256 = verify.find((v) => v.name.startsWith("ES256, full"));
  const es256Us = es256 ? median(es256.usPerOp) : Number.NaN;
  const routeLoss = 1 - rps(eg1000) / rps(eg1);
  const chainVsFloor = rps(chain) / rps(floor);
  const chainCpu = cpu(chain);
  const chainSubrequests = subrequests["eg-chain"] ?? Number.NaN;
  const localFirst = byId("eg-rl-local");
  const localFirstRatio = rps(localFirst) / rps(eg1000);
  const localFirstCalls = limiterCalls["eg-rl-local"] ?? Number.NaN;
  const breakerRatio = rps(byId("eg-breaker")) / rps(eg1000);
  const breakerCallsPerRequest = breakerCalls["eg-breaker"] ?? Number.NaN;
  const ejectionMs = ejections.length > 0 ? median(ejections.map((e) => e.ms)) : Number.NaN;
  const coalesceMode = (mode: CoalesceRun["mode"]) => coalescing.filter((r) => r.mode === mode);
  const coalesceMedian = (mode: CoalesceRun["mode"], pick: (r: CoalesceRun) => number) => {
    const runs = coalesceMode(mode);
    return runs.length > 0 ? median(runs.map(pick)) : Number.NaN;
  };
  const originPerRequestOff = coalesceMedian("off", (r) => r.originPerRequest);
  const originPerRequestOn = coalesceMedian("on", (r) => r.originPerRequest);
  const originPerRequestCached = coalesceMedian("cached", (r) => r.originPerRequest);
  const fewerOriginCalls = 1 - originPerRequestOn / originPerRequestOff;

  /** Rows of a table of cases that add a backend to the 1,000-route GET: throughput, its ratio, CPU, backend calls per request, latency. */
  const backendRows = (ids: string[], callsPerRequest: Record<string, number>) =>
    ids.flatMap((id) => {
      const r = byId(id);
      if (!r) return [];
      const latency = `${fixed(
        med(r, (x) => x.fixedP50Ms),
        2,
      )} / ${fixed(
        med(r, (x) => x.fixedP99Ms),
        2,
      )}`;
      return [
        `| ${r.case.name} | ${fixed(rps(r))} | ${ratio(rps(r) / rps(eg1000))} | ${fixed(cpu(r))} | ${fixed(callsPerRequest[id] ?? Number.NaN, 4)} | ${latency} |`,
      ];
    });
  const rows = results.filter((r) => r.case.kind !== "refusal");
  const chartFile = resolve(root, "docs/benchmarks.svg");
  mkdirSync(resolve(root, "docs"), { recursive: true });
  writeFileSync(
    chartFile,
    benchmarkChart(
      rows.map((r) => ({ label: label(r), rps: rps(r), cpuUs: cpu(r), highlight: r.case.contender === "edgegate" })),
      `npm run bench, ${new Date().toISOString().slice(0, 10)}: medians of ${settings.runs} runs; every contender on one pinned core, origin nginx and wrk on the other.`,
    ),
  );

  const peerConfig = (name: string, file: string) => {
    try {
      // Paths shown relative to the project, as a reader's own run would have them.
      return readFileSync(resolve(input.work, name, file), "utf8")
        .trim()
        .replaceAll(`${root}/`, "");
    } catch {
      return "(not written in this run)";
    }
  };

  const lines = [
    "# Benchmarks",
    "",
    "Generated by `npm run bench` (scripts/bench/run.ts); do not edit by hand.",
    "",
    `Run: ${new Date().toISOString()}, ${input.minutes.toFixed(1)} minutes${settings.quick ? " (**quick mode**: fewer and shorter runs, for development only)" : ""}. ${settings.runs} rounds; each round runs every case once: a ${settings.warmSeconds} s warm-up, ${settings.seconds} s at saturation (wrk, 1 thread, ${settings.connections} connections), then ${settings.fixedSeconds} s at a fixed ${settings.fixedRate} req/s (${settings.fixedConnections} connections) for latency. Medians, with min-max over the rounds.`,
    "",
    "![Throughput and CPU per request by contender and scenario](docs/benchmarks.svg)",
    "",
    "## Machine and versions",
    "",
    `- CPU: ${cpus()[0]?.model ?? "unknown"} x ${cpus().length}; Linux ${release()}`,
    `- Node ${process.version}; ${version(resolve(root, "node_modules/.bin/workerd"), ["--version"])}; wrangler ${packageVersion(root, "wrangler")}`,
    `- ${version("nginx", ["-v"])}; ${version("haproxy", ["-v"])}; ${version("wrk", ["--version"])}`,
    `- Node.js gateway: fastify ${packageVersion(root, "fastify")}, @fastify/http-proxy ${packageVersion(root, "@fastify/http-proxy")}, jose ${packageVersion(root, "jose")}`,
    "- Placement: each contender pinned to CPU 0 (taskset) with one worker or thread (nginx `worker_processes 1`, HAProxy `nbthread 1`, one Node process, workerd's one isolate thread); the origin nginx and wrk pinned to CPU 1.",
    "",
    "## Goals",
    "",
    "| goal | target | measured | |",
    "| --- | --- | --- | --- |",
    `| full chain throughput vs bare passthrough Worker | >= 0.75x | ${ratio(chainVsFloor)} | ${verdict(chainVsFloor >= 0.75)} |`,
    `| full chain CPU per request, median (whole workerd process) | <= 150 us | ${fixed(chainCpu)} us (the bare passthrough itself: ${fixed(cpu(floor))} us; the gateway adds ${fixed(chainCpu - cpu(floor))} us) | ${verdict(chainCpu <= 150)} |`,
    `| throughput loss from 1 to 1,000 routes | <= 5% | ${pct(routeLoss)} | ${verdict(routeLoss <= 0.05)} |`,
    `| subrequests per request, full chain, steady state | == 1 | ${fixed(chainSubrequests, 3)} origin requests per request (1,000 requests against nginx's counter; the JWKS fetch included) | ${verdict(chainSubrequests === 1)} |`,
    `| gateway throughput vs bare passthrough, routed GET (1 route) | >= 0.85x | ${ratio(rps(eg1) / rps(floor))} (the lower bound for a conforming Worker: ${ratio(rps(required) / rps(floor))}) | ${verdict(rps(eg1) / rps(floor) >= 0.85)} |`,
    `| route match cost, 10,000 vs 10 routes, same hot routes | <= 1.5x | ${ratio(hotRatio)} | ${verdict(hotRatio <= 1.5)} |`,
    `| config diff of two 20,000-route configs (the validate endpoint, in the Worker's CPU budget) | well under a second (<= ${DIFF_GOAL_MS} ms) | ${fixed(diffMs, 1)} ms | ${verdict(diffMs <= DIFF_GOAL_MS)} |`,
    `| JWT, cached token: CPU the authenticate stage adds, over the routed GET's CPU per request | < 5% | ${pct(stageAddedUs / cpu(eg1000))} (${fixed(stageAddedUs, 1)} of ${fixed(cpu(eg1000))} us) | ${verdict(stageAddedUs / cpu(eg1000) < 0.05)} |`,
    `| full ES256 verification with a cached key | < 100 us | ${fixed(es256Us, 1)} us | ${verdict(es256Us < 100)} |`,
    `| local-first rate limit throughput vs the plain routed GET (1,000 routes) | >= 0.9x | ${ratio(localFirstRatio)} | ${verdict(localFirstRatio >= 0.9)} |`,
    `| local-first limiter calls per request, steady state | < 0.01 | ${fixed(localFirstCalls, 4)} | ${verdict(localFirstCalls < 0.01)} |`,
    `| breaker (closed) throughput vs the plain routed GET (1,000 routes) | >= 0.95x | ${ratio(breakerRatio)} | ${verdict(breakerRatio >= 0.95)} |`,
    `| breaker object calls per request, steady state | < 0.01 | ${fixed(breakerCallsPerRequest, 4)} | ${verdict(breakerCallsPerRequest < 0.01)} |`,
    `| time from an upstream starting to fail to its ejection, default settings | (reported) | ${fixed(ejectionMs)} ms median | |`,
    `| origin calls per client request, skewed reads, coalescing on vs off | >= 60% fewer | ${pct(-fewerOriginCalls)} (${fixed(originPerRequestOn, 3)} vs ${fixed(originPerRequestOff, 3)}) | ${verdict(fewerOriginCalls >= 0.6)} |`,
    `| origin calls per client request, skewed reads, caching on (${CACHE_TTL_SEC} s lifetime) | reported | ${fixed(originPerRequestCached, 4)} (against ${fixed(originPerRequestOff, 3)} without) | - |`,
    "",
    `Context for the throughput goals: two Workers without routing, config or framework mark the floor. The lower bound (scripts/bench/required-writes.js) makes only the runtime calls the proxy contract cannot do without: the request's fields copied natively, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id and traceparent written, a header deadline, and the answer re-wrapped to return the request id. It ran at ${ratio(rps(required) / rps(floor))} of the bare passthrough Worker here, at ${fixed(cpu(required))} us CPU per request against the passthrough's ${fixed(cpu(floor))} us: no gateway that keeps the contract can do better on this runtime, whatever its own code costs. The minimal header-rewriting Worker (scripts/bench/rewriting-proxy.js) does the same kind of work plus the hop-by-hop scan of both header sets (it writes X-Forwarded-For where the lower bound writes traceparent) and ran at ${ratio(rps(rewriting) / rps(floor))}, ${fixed(cpu(rewriting))} us. The passthrough hands the client's request and the origin's response through untouched, without creating a Headers or Response object of its own; the whole workerd process's CPU per request is in these figures, runtime included, so the passthrough's own figure is already above the 150 us CPU goal. Against the rewriting Worker, the routed GET runs at ${ratio(rps(eg1) / rps(rewriting))} and the full chain at ${ratio(rps(chain) / rps(rewriting))}. CPU time here swings by a third between rounds; \`npm run bench:instructions\` counts instructions per request for the same Workers, which repeat ([docs/instructions.md](docs/instructions.md)).`,
    "",
    "The full chain is what edgegate has today: route match over 1,000 routes, JWT verification (a pool of 1,000 distinct tokens, verified-token cache on), a local-first rate limit per JWT subject on the Durable Object backend, the `sub` claim forwarded as a header, and a circuit breaker (default settings) on the cluster. Request coalescing is not in the chain: it is opt-in for hot read routes and is measured on its own workload (below). Subrequests are counted at the origin nginx, which also serves the JWKS: KV reads are not HTTP here, and the gateway makes at most one (the config pointer check) per isolate per `CONFIG_REFRESH_INTERVAL_MS` (500 ms in this run, 5 s by default).",
    "",
    "## All contenders",
    "",
    `Peers are compared with the equivalent case: plain proxying with plain proxying, the JWT cases with the peer's authentication chain. Latency is measured at a fixed ${settings.fixedRate} req/s, below every contender's saturation, with wrk's delay() pacing (closed-loop per connection: wrk2, which corrects coordinated omission, is not packaged in Debian). CPU per request is the contender process's utime+stime over the saturation run, children included (nginx's worker), divided by the requests served; workerd's figure covers the whole runtime, not only the Worker's JavaScript. *Origin req/req* counts, for the workerd cases, the requests that reached the origin per client request over 1,000 requests after the runs (nginx's request counter).`,
    "",
    `| contender: case | req/s median (min-max) | vs passthrough | ${peers.map((p) => `vs ${p}`).join(" | ")} | p50 / p99 ms at ${settings.fixedRate}/s | CPU us/req | origin req/req | errors |`,
    `| --- | --- | ---: | ${peers.map(() => "---:").join(" | ")} | ---: | ---: | ---: | ---: |`,
    ...results.map((r) => {
      const versusPeers = peers.map((p) => {
        const peer = peerFor(p, r.case.kind);
        return r.case.contender === "edgegate" && peer && r.case.kind !== "refusal" && r.case.kind !== "control"
          ? ratio(rps(r) / rps(peer))
          : "";
      });
      const errors = r.runs.reduce((a, x) => a + x.errors + x.fixedErrors, 0);
      const latency = `${fixed(
        med(r, (x) => x.fixedP50Ms),
        2,
      )} / ${fixed(
        med(r, (x) => x.fixedP99Ms),
        2,
      )}`;
      const origin = fixed(subrequests[r.case.id] ?? Number.NaN, 3);
      return `| ${label(r)} | ${fixed(rps(r))} (${spread(r, (x) => x.rps)}) | ${ratio(rps(r) / rps(floor))} | ${versusPeers.join(" | ")} | ${latency} | ${fixed(cpu(r))} | ${origin} | ${errors} |`;
    }),
    "",
    "## Rate limiting",
    "",
    "The same 1,000-route config as the plain routed GET, with one policy on the benchmarked route, keyed per client address (wrk sends from one address: one hot key) with a limit far above what one core serves, so every request is counted and none refused. *Limiter calls/req* is the gateway's own count of backend calls (its admin counters) over 1,000 requests after the runs. The Durable Object runs inside the same workerd process, so its CPU is in the figure; the local Upstash (Node REST server and redis-server) runs on the load core, outside it.",
    "",
    "| case | req/s median | vs routed GET, 1,000 routes | CPU us/req | limiter calls/req | p50 / p99 ms at fixed rate |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...backendRows(["eg-rl-do", "eg-rl-upstash", "eg-rl-local", "eg-chain"], limiterCalls),
    "",
    "Exact mode pays one backend round trip per request: to a Durable Object in the same process here (a real deployment adds the network hop to the object's location), or an HTTP call to Upstash. Local-first spends leases from isolate memory and renews them in the background; its accuracy bound is in docs/rate-limiting.md.",
    "",
    "## Circuit breaking",
    "",
    "The same 1,000-route config as the plain routed GET, with a breaker (default settings) on the cluster: every request is counted in isolate memory and the counts go to the cluster's Durable Object about once a second. *Breaker calls/req* is the gateway's own count of reports to the object over 1,000 requests after the runs.",
    "",
    "| case | req/s median | vs routed GET, 1,000 routes | CPU us/req | breaker calls/req | p50 / p99 ms at fixed rate |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...backendRows(["eg-breaker", "eg-chain"], breakerCalls),
    "",
    `Time to ejection: a cluster of two targets (the origin nginx, and a Node server that answers 200 until told to answer 500) under steady load from 8 concurrent clients; the second target starts failing, and the clock stops when the gateway's own view (admin API, polled every 50 ms) has it open. Default settings (5 s half-life): at normal latency the failure rate reaches the 50% that trips about one half-life after the failures start; a target already slower than its peers (the Node server beside nginx, here) carries a larger latency term and goes sooner. ${
      ejections.length === 0
        ? "Not measured in this run."
        : `Runs: ${ejections.map((e) => `${fixed(e.ms)} ms (${e.failedRequests} failed requests at ${fixed(e.rps)} req/s)`).join("; ")}.`
    }`,
    "",
    "The junk-token case is answered 401 by the gateway without calling the origin: its figures are the whole cost of a refusal. The control case sends the same token as the JWT cases to a route without auth, so the difference to it is authentication alone.",
    "",
    "Peak resident memory over the whole run (MiB; workerd hosts the gateway, the passthrough Worker and the micro-benchmark Worker, and held every config of the run):",
    "",
    "| process | peak RSS MiB |",
    "| --- | ---: |",
    ...Object.entries(rss).map(([name, mib]) => `| ${name} | ${fixed(mib, 1)} |`),
    "",
    "## Request coalescing",
    "",
    `A skewed read workload: wrk with 64 connections (closed loop: each sends its next request when the last is answered), each request one of 8 hot URLs, the k-th with weight 1/k (scripts/bench/coalesce.ts), to an origin that answers each in 20-50 ms (a Node server, scripts/bench/slow-origin.ts, pinned with wrk to the load core). The same gateway and config serve every mode: route \`hot\` without coalescing and route \`hot-co\` with \`coalesce: {}\` (defaults), in front of the same origin path, and route \`hot-ca\` with \`cache: { ttlSec: ${CACHE_TTL_SEC}, public: true }\` (its concurrent misses merge into one origin call; the Cache API answered by scripts/bench/cache-service.ts, outside the measured workerd process). *Origin calls/req* is the origin's own request counter over the run divided by wrk's completed requests; requests still in flight when wrk stops (up to 64) reach the origin without being counted as sent, so the figure without coalescing reads slightly above 1. Runs take the three modes in turn.`,
    "",
    "| mode | req/s median | origin calls/req median | p50 ms | p99 ms | runs (req/s, origin calls/req, p99 ms) |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    ...(["off", "on", "cached"] as const).map((mode) => {
      const runs = coalesceMode(mode);
      const detail = runs.map((r) => `${fixed(r.wrk.rps)}, ${fixed(r.originPerRequest, 3)}, ${fixed(r.wrk.p99Ms, 1)}`).join("; ");
      return `| ${mode === "cached" ? "caching on" : mode === "on" ? "coalescing on" : "coalescing off"} | ${fixed(coalesceMedian(mode, (r) => r.wrk.rps))} | ${fixed(
        coalesceMedian(mode, (r) => r.originPerRequest),
        3,
      )} | ${fixed(
        coalesceMedian(mode, (r) => r.wrk.p50Ms),
        1,
      )} | ${fixed(
        coalesceMedian(mode, (r) => r.wrk.p99Ms),
        1,
      )} | ${detail || "not measured in this run"} |`;
    }),
    "",
    "With coalescing, a request for a hot URL that arrives while a call for it is in flight waits for that call instead of making its own: the origin sees about one call per hot URL per origin latency, whatever the number of clients, and a follower's latency is the rest of the leader's call rather than a whole call of its own.",
    "",
    `With caching, the origin sees about one call per hot URL per ${CACHE_TTL_SEC} s lifetime (the misses at each expiry merged into one), and every other request is answered from the cache without waiting on the origin at all.`,
    "",
    "## Route match cost",
    "",
    "`RouteTable.lookup` (host group, first-segment shard, Hono router, method check) on Node's V8, the engine workerd embeds; runs after a warm-up run, over 1,024 request paths (one in ten a miss).",
    "",
    "| routes | compile (ms) | snapshot heap (MiB) | hot 10 routes, ns/lookup (median, runs) | spread over 1,024 routes, ns/lookup (median, runs) |",
    "| ---: | ---: | ---: | --- | --- |",
    ...match.map(
      (m) =>
        `| ${m.routes.toLocaleString("en")} | ${m.compileMs.toFixed(0)} | ${m.heapMiB.toFixed(1)} | ${median(m.hotNsPerLookup).toFixed(0)} (${m.hotNsPerLookup.map((x) => x.toFixed(0)).join(", ")}) | ${median(m.spreadNsPerLookup).toFixed(0)} (${m.spreadNsPerLookup.map((x) => x.toFixed(0)).join(", ")}) |`,
    ),
    "",
    "## Config diff",
    "",
    "`diffConfigs` (src/config/diff.ts), which `POST /__gateway/admin/config/validate` runs inside the Worker and the CLI runs before a publish, on Node's V8: two parsed configs of the benchmark's routes, the second a realistic next version (one route in 100 edited, one in 100 removed, one in 100 added through the table, one in 1,000 moved to the end, a cluster added; scripts/bench/diff.ts). Equal growth per route from 1,000 to 20,000 means linear cost. `npm run bench:diff` runs this alone.",
    "",
    "| routes | changes found | ms per diff (median, runs) |",
    "| ---: | --- | --- |",
    ...diff.map(
      (d) =>
        `| ${d.routes.toLocaleString("en")} | ${Object.entries(d.changes)
          .map(([kind, count]) => `${count} ${kind}`)
          .join(", ")} | ${median(d.msPerDiff).toFixed(1)} (${d.msPerDiff.map((x) => x.toFixed(1)).join(", ")}) |`,
    ),
    "",
    "## Authentication",
    "",
    "Cost of one verification inside workerd: the workerd process's CPU over one request that runs the gateway's `verifyJwt` N times, divided by N; keys already imported (a warm isolate), tokens from a pool of 1,000 distinct ones (scripts/bench/auth-worker.ts).",
    "",
    "| case | N per run | us per verification, median (runs) |",
    "| --- | ---: | --- |",
    ...verify.map(
      (v) =>
        `| ${v.name} | ${v.n.toLocaleString("en")} | ${median(v.usPerOp).toFixed(1)} (${v.usPerOp.map((x) => x.toFixed(1)).join(", ")}) |`,
    ),
    "",
    `The authenticate stage, inside workerd with no network (the real stage in a Hono app, alternating runs of ${stage.n.toLocaleString("en-US")} requests): ${fixed(median(stage.plainUs), 1)} us per request on a route without auth (${stage.plainUs.map((x) => x.toFixed(1)).join(", ")}), ${fixed(median(stage.jwtUs), 1)} us with a cached JWT (${stage.jwtUs.map((x) => x.toFixed(1)).join(", ")}): the cached-token path adds ${fixed(stageAddedUs, 1)} us. Through HTTP the same comparison (one-token JWT case against the control case) reads ${pct(cpu(byId("eg-jwt-one")) / cpu(control) - 1)} CPU per request; round-to-round noise on this shared machine is larger than that difference, which is why the goal uses the in-isolate figure.`,
    "",
    "## Deploy bundle",
    "",
    "Measured apart from this run, on one source built both ways (`npm run bench:startup` for the size and the cold start, `npm run bench:instructions` with `INSTRUCTIONS_BUNDLE` for the requests); the method, the spread and what it decided: [docs/deploy-bundle.md](docs/deploy-bundle.md).",
    "",
    ...deployBundleSummary(root),
    "",
    "## Raw runs",
    "",
    `| contender: case | run | requests | req/s | p50 ms | p99 ms | CPU us/req | req/s at ${settings.fixedRate}/s | p50 / p99 ms at ${settings.fixedRate}/s | errors |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.flatMap((r) =>
      r.runs.map(
        (x, i) =>
          `| ${label(r)} | ${i + 1} | ${x.requests} | ${x.rps.toFixed(0)} | ${x.p50Ms.toFixed(2)} | ${x.p99Ms.toFixed(2)} | ${fixed(x.cpuUsPerRequest, 1)} | ${x.fixedRps.toFixed(0)} | ${x.fixedP50Ms.toFixed(2)} / ${x.fixedP99Ms.toFixed(2)} | ${x.errors + x.fixedErrors} |`,
      ),
    ),
    "",
    "## Commands and configs",
    "",
    `- Saturation: \`${(results[0]?.command ?? "").replace(/http:\/\/\S+/, "URL")}\`, with \`-s <case>.lua\` for the token cases (a Lua script sending each request with the next of the pool's tokens). Fixed rate: the same with ${settings.fixedConnections} connections and a script adding \`delay()\` pacing (scripts/bench/identity.ts).`,
    "- workerd: `workerd serve` directly, one process for the gateway, the passthrough Worker and the micro-benchmark Worker, on a config scripts/bench/workerd.ts writes (outbound fetches straight to the network, as deployed; no Miniflare, whose JS outbound worker in front of every subrequest added about 100 us of CPU per request here: 292 us for the passthrough Worker under Miniflare, 160 to 210 us on workerd alone). The gateway is the bundle from `wrangler deploy --dry-run` (minified, as deployed; its size and cold start, minified and not: [docs/deploy-bundle.md](docs/deploy-bundle.md)), with its KV namespace served from the benchmark process and its Durable Objects on local SQLite. Passthrough Worker: scripts/bench/passthrough.js. Gateway configs: scripts/bench/routes.ts (the benchmarked route comes last in config order). JWT provider: ES256 only, JWKS served by the origin nginx, `sub` forwarded as X-User-Id.",
    "- Origin: nginx, config from scripts/bench/tools.ts (`worker_processes 1`, `access_log off`, keepalive, a 47-byte JSON body).",
    "- Node.js gateway: scripts/bench/node-gateway.ts (Fastify with @fastify/http-proxy defaults; the JWT variant adds an onRequest hook with jose `jwtVerify` against a local JWKS, no token cache).",
    "- HAProxy has no verified-token cache either: every request runs `jwt_verify`. Its stick table counts requests per source address against a limit set far above what the run reaches.",
    "",
    "nginx reverse proxy (generated for the run):",
    "",
    "```nginx",
    peerConfig("nginx-proxy", "nginx.conf"),
    "```",
    "",
    "HAProxy with the JWT chain (generated for the run; the plain variant is the same without the `http-request` and stick-table lines):",
    "",
    "```haproxy",
    peerConfig("haproxy-jwt", "haproxy.cfg"),
    "```",
    "",
  ];
  writeFileSync(resolve(root, "BENCHMARKS.md"), lines.join("\n"));
  console.log(lines.slice(lines.indexOf("## Goals"), lines.indexOf("## All contenders")).join("\n"));
  console.log("wrote BENCHMARKS.md and docs/benchmarks.svg");
}
