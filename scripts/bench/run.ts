/**
 * `npm run bench` (about 9 minutes) or `npm run bench -- --quick` (under 2): edgegate on workerd
 * against a bare passthrough Worker and peer gateways (nginx, HAProxy, a Node.js gateway), all
 * proxying to the same nginx origin, in one run. Rewrites BENCHMARKS.md and docs/benchmarks.svg.
 *
 * Placement on a 2-core machine: every contender is pinned to CPU 0, one worker or thread each, so
 * CPU per request compares like with like; the origin nginx and wrk share CPU 1.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { publishConfig } from "../../src/config/store.ts";
import { freePorts } from "../lib/free-port.ts";
import { startLocalUpstash } from "../lib/local-upstash.ts";
import { type CoalesceRun, measureCoalescing } from "./coalesce.ts";
import { measureDiff } from "./diff.ts";
import { AUDIENCE, benchIdentityProvider, ISSUER, pacedLua, TOKEN_POOL, tokenPoolLua } from "./identity.ts";
import { measureMatch } from "./match.ts";
import { measureStage, measureVerify } from "./micro.ts";
import { startHaproxy, startNginxProxy, startNodeGateway } from "./peers.ts";
import { type BenchCase, type CaseResult, type EjectionRun, writeReport } from "./report.ts";
import { benchJwtAuth, benchLimit, benchRoutes, fullChainRoutes } from "./routes.ts";
import { cpuMicros, ensureTools, nginxRequestCount, peakRssMiB, pin, runWrk, startNginx } from "./tools.ts";
import { startWorkerd } from "./workerd.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bench");
const QUICK = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const settings = {
  quick: QUICK,
  runs: Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3)),
  seconds: Number(process.env.BENCH_SECONDS ?? (QUICK ? 1 : 4)),
  warmSeconds: 1,
  fixedSeconds: QUICK ? 1 : 2,
  fixedRate: Number(process.env.BENCH_RATE ?? 500),
  connections: 32,
  fixedConnections: 16,
};
export type BenchSettings = typeof settings;
const CONTENDER_CPU = 0;
const LOAD_CPU = 1;

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Origin requests per client request, exactly: `n` requests (10 at a time, each answer read to the
 * end, the case's tokens in turn) against the change in nginx's request counter. wrk cannot give
 * this: requests in flight when it stops reach the origin but are not counted as sent.
 */
async function countOriginRequests(origin: string, c: BenchCase, n: number): Promise<number> {
  const before = await nginxRequestCount(origin);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const token = c.auth?.tokens[i % c.auth.tokens.length];
      const response = await fetch(c.url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${c.id}: answered ${response.status} while counting subrequests`);
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  return ((await nginxRequestCount(origin)) - before - 1) / n; // minus the second status read
}

const ADMIN_TOKEN = crypto.randomUUID();

/** One request per token, ten at a time. */
async function sendEach(url: string, tokens: string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const token = tokens[next++];
      await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
}

/** The sum of the gateway's counters whose name starts with `prefix` (its admin counters; one isolate serves the bench). */
async function counterTotal(gateway: string, prefix: string): Promise<number> {
  const response = await fetch(`${gateway}/__gateway/admin/metrics?format=json`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const { isolateCounters } = (await response.json()) as { isolateCounters: Record<string, number> };
  return Object.entries(isolateCounters)
    .filter(([name]) => name.startsWith(prefix))
    .reduce((sum, [, value]) => sum + value, 0);
}

/**
 * Time from an upstream starting to fail to its ejection: a cluster of the origin and a Node server
 * that answers 200 until flipped to 500, under steady load from 8 concurrent clients. The clock
 * stops when the gateway's own view (its admin API) has the failing target open.
 */
async function measureEjection(
  gateway: string,
  origin: string,
  publish: (config: GatewayConfigInput) => Promise<void>,
  runs: number,
): Promise<EjectionRun[]> {
  let failing = false;
  let hits = 0;
  const flaky = createServer((_req, res) => {
    hits++;
    res.writeHead(failing ? 500 : 200, { "content-type": "application/json" });
    res.end(failing ? '{"error":"failing"}' : '{"ok":true}');
  });
  await new Promise<void>((resolve) => flaky.listen(0, "127.0.0.1", resolve));
  const flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
  const out: EjectionRun[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const name = `eject-${run}-${crypto.randomUUID().slice(0, 6)}`;
      failing = false;
      await publish({
        clusters: { [name]: { targets: [{ url: origin }, { url: flakyUrl }], breaker: {} } },
        routes: [{ id: name, match: { path: "/eject/*" }, cluster: name, rewrite: { stripPrefix: "/eject" } }],
      });
      let sent = 0;
      let loading = true;
      const client = async () => {
        while (loading) {
          await (await fetch(`${gateway}/eject/hello`)).arrayBuffer();
          sent++;
        }
      };
      const clients = Array.from({ length: 8 }, client);
      await new Promise((r) => setTimeout(r, 3_000));
      const [startedAt, sentBefore] = [Date.now(), sent];
      hits = 0;
      failing = true;
      let ms = Number.NaN;
      while (Date.now() - startedAt < 60_000) {
        const status = (await (
          await fetch(`${gateway}/__gateway/admin/clusters/${name}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
        ).json()) as { isolate: { targets: Record<string, { state: string }> } | null };
        if (status.isolate?.targets[flakyUrl]?.state === "open") {
          ms = Date.now() - startedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const failedRequests = hits;
      const rps = ((sent - sentBefore) / (Date.now() - startedAt)) * 1000;
      loading = false;
      await Promise.all(clients);
      out.push({ ms, failedRequests, rps });
      console.log(`ejection run ${run + 1}: ${ms} ms, ${failedRequests} failed requests at ${rps.toFixed(0)} req/s`);
    }
  } finally {
    flaky.closeAllConnections();
    flaky.close();
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  await ensureTools(["nginx", "wrk", "haproxy", "redis-server"]);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });

  // BENCH_ONLY (a regular expression over case ids) narrows the run to those HTTP cases, without
  // the micro-benchmarks: for quick comparisons during development.
  const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
  console.log("route match cost...");
  const match = only ? [] : QUICK ? measureMatch([10, 10_000], 200_000, 2) : measureMatch([10, 1_000, 10_000], 1_000_000, 3);
  console.log("config diff cost...");
  const diff = only ? [] : measureDiff([1_000, 8_000, 20_000], QUICK ? 2 : 5);

  console.log("building the gateway and micro-benchmark bundles...");
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", resolve(WORK, "gateway")], { cwd: ROOT, stdio: "ignore" });
  execFileSync(
    "wrangler",
    ["deploy", "scripts/bench/auth-worker.ts", "--dry-run", "--outdir", resolve(WORK, "auth-worker"), "--name", "edgegate-bench-auth"],
    { cwd: ROOT, stdio: "ignore" },
  );

  const idp = await benchIdentityProvider();
  const token = await idp.sign("user-0");
  const pool = await Promise.all(Array.from({ length: TOKEN_POOL }, (_, i) => idp.sign(`user-${i}`)));
  const jwtPeer = { issuer: ISSUER, audience: AUDIENCE, publicKeyPem: idp.publicKeyPem };

  const [
    originPort,
    gatewayPort,
    passthroughPort,
    authBenchPort,
    nginxProxyPort,
    haproxyPort,
    haproxyJwtPort,
    nodePort,
    nodeJwtPort,
    upstashPort,
    redisPort,
    slowOriginPort,
    rewritingPort,
    requiredPort,
  ] = await freePorts(14);
  const nginx = startNginx(WORK, originPort, LOAD_CPU, idp.jwks);
  // Upstash policies talk to Debian's redis-server behind the Upstash REST API, beside the origin.
  const upstash = await startLocalUpstash({ port: upstashPort, redisPort });
  pin(upstash.pid, LOAD_CPU);
  const redisPid = await upstash.redisPid();
  if (redisPid === null) throw new Error("the local Upstash runs no redis-server");
  pin(redisPid, LOAD_CPU);
  const origin = `http://127.0.0.1:${originPort}`;
  await waitFor(async () => (await fetch(`${origin}/`)).ok, "nginx");

  const ports = {
    gateway: gatewayPort,
    passthrough: passthroughPort,
    authBench: authBenchPort,
    rewriting: rewritingPort,
    required: requiredPort,
    nginxProxy: nginxProxyPort,
    haproxy: haproxyPort,
    haproxyJwt: haproxyJwtPort,
    node: nodePort,
    nodeJwt: nodeJwtPort,
  };
  const children: Array<{ kill(): unknown }> = [nginx];
  // Whatever happens below, no server outlives the run.
  process.on("exit", () => {
    for (const child of children) child.kill();
  });
  const peers = {
    nginxProxy: startNginxProxy(WORK, ports.nginxProxy, origin, CONTENDER_CPU),
    haproxy: startHaproxy(WORK, "haproxy", ports.haproxy, origin, CONTENDER_CPU),
    // The rate limit is far above what one core can serve: it is counted on every request, never hit.
    haproxyJwt: startHaproxy(WORK, "haproxy-jwt", ports.haproxyJwt, origin, CONTENDER_CPU, { ...jwtPeer, ratePerSecond: 1_000_000 }),
    node: startNodeGateway(ports.node, origin, CONTENDER_CPU),
    nodeJwt: startNodeGateway(ports.nodeJwt, origin, CONTENDER_CPU, { ...jwtPeer, jwks: idp.jwks }),
  };

  children.push(...Object.values(peers));
  const runtime = await startWorkerd(
    WORK,
    [
      {
        name: "gateway",
        modulePath: resolve(WORK, "gateway/index.js"),
        port: ports.gateway,
        gateway: true,
        bindings: {
          ALLOW_PRIVATE_UPSTREAMS: "true",
          CONFIG_REFRESH_INTERVAL_MS: "500",
          UPSTASH_REDIS_REST_URL: upstash.url,
          UPSTASH_REDIS_REST_TOKEN: upstash.token,
          ADMIN_TOKEN: ADMIN_TOKEN,
        },
      },
      {
        name: "passthrough",
        modulePath: resolve(import.meta.dirname, "passthrough.js"),
        port: ports.passthrough,
        bindings: { ORIGIN: origin },
      },
      {
        name: "rewriting-proxy",
        modulePath: resolve(import.meta.dirname, "rewriting-proxy.js"),
        port: ports.rewriting,
        bindings: { ORIGIN: origin },
      },
      {
        name: "required-writes",
        modulePath: resolve(import.meta.dirname, "required-writes.js"),
        port: ports.required,
        bindings: { ORIGIN: origin },
      },
      { name: "auth-bench", modulePath: resolve(WORK, "auth-worker/auth-worker.js"), port: ports.authBench },
    ],
    { cpu: CONTENDER_CPU },
  );
  children.push({ kill: () => runtime.stop() });
  const workerd = runtime.pid;
  const kv = runtime.kv;
  const gateway = `http://127.0.0.1:${ports.gateway}`;
  // Any answer means the peer is listening (the JWT ones refuse a request without a token).
  for (const port of [ports.nginxProxy, ports.haproxy, ports.haproxyJwt, ports.node, ports.nodeJwt]) {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).status > 0, `peer on ${port}`);
  }

  // A case whose config is already the one served keeps it (and its warm caches) rather than republishing.
  let serving = "";
  const publish = async (label: string, config: GatewayConfigInput) => {
    const text = JSON.stringify(config);
    if (text === serving) return;
    serving = "";
    const published = await publishConfig(kv, config, { allowPrivateUpstreams: true });
    if (!published.ok) throw new Error(JSON.stringify(published.issues.slice(0, 3)));
    await waitFor(async () => {
      const health = (await (await fetch(`${gateway}/__gateway/health`)).json()) as { config: { version: string } };
      return health.config.version === published.version;
    }, label);
    serving = text;
  };
  const useConfig = (label: string, config: GatewayConfigInput) => () => publish(label, config);
  const routed = (n: number) => useConfig(`${n} routes`, benchRoutes(n, origin));
  const withJwt = (tokenCacheSize: number) =>
    useConfig(
      `1,000 routes with JWT, token cache ${tokenCacheSize}`,
      benchRoutes(1_000, origin, { auth: benchJwtAuth(origin, tokenCacheSize) }),
    );
  // Limits far above what one core serves: every request is counted, none refused, as in HAProxy's chain.
  const withLimit = (backend: "durable-object" | "upstash", mode: "exact" | "local-first") =>
    useConfig(`1,000 routes with a ${mode} limit on ${backend}`, benchRoutes(1_000, origin, { rateLimits: [benchLimit(backend, mode)] }));
  const withBreaker = useConfig("1,000 routes with a breaker", benchRoutes(1_000, origin, { breaker: {} }));
  const fullChain = useConfig("full chain", fullChainRoutes(origin));
  const one = { headers: { authorization: `Bearer ${token}` }, tokens: [token] };
  const many = { headers: { authorization: `Bearer ${pool[0]}` }, tokens: pool };
  const junk = { headers: { authorization: "Bearer only.two" }, tokens: ["only.two"] };
  const atGateway = `${gateway}/bench/hello`;
  const peerUrl = (port: number) => `http://127.0.0.1:${port}/hello`;
  const pids = { workerd, nginxProxy: peers.nginxProxy.pid ?? 0, node: peers.node.pid ?? 0, nodeJwt: peers.nodeJwt.pid ?? 0 };
  const haproxyPids = { plain: peers.haproxy.pid ?? 0, jwt: peers.haproxyJwt.pid ?? 0 };

  const cases: BenchCase[] = [
    { id: "direct", contender: "origin", name: "nginx origin, direct (no proxy)", kind: "baseline", url: `${origin}/hello` },
    {
      id: "passthrough",
      contender: "workerd",
      name: "bare passthrough Worker",
      kind: "floor",
      url: peerUrl(ports.passthrough),
      pid: pids.workerd,
    },
    {
      id: "rewriting",
      contender: "workerd",
      name: "minimal header-rewriting Worker (no routing, no config)",
      kind: "floor",
      url: peerUrl(ports.rewriting),
      pid: pids.workerd,
    },
    {
      id: "required",
      contender: "workerd",
      name: "required writes only (lower bound for a conforming Worker)",
      kind: "floor",
      url: peerUrl(ports.required),
      pid: pids.workerd,
    },
    { id: "eg-1", contender: "edgegate", name: "routed GET, 1 route", kind: "plain", url: atGateway, setup: routed(1), pid: workerd },
    {
      id: "eg-100",
      contender: "edgegate",
      name: "routed GET, 100 routes",
      kind: "plain",
      url: atGateway,
      setup: routed(100),
      pid: workerd,
    },
    {
      id: "eg-1000",
      contender: "edgegate",
      name: "routed GET, 1,000 routes",
      kind: "plain",
      url: atGateway,
      setup: routed(1_000),
      pid: workerd,
    },
    {
      id: "eg-1000-token",
      contender: "edgegate",
      name: "routed GET, 1,000 routes, same token sent but not verified (control)",
      kind: "control",
      url: atGateway,
      setup: routed(1_000),
      auth: one,
      pid: workerd,
    },
    {
      id: "eg-jwt-one",
      contender: "edgegate",
      name: "+ JWT ES256, one token (verified-token cache hit)",
      kind: "jwt",
      url: atGateway,
      setup: withJwt(10_000),
      auth: one,
      pid: workerd,
    },
    {
      id: "eg-jwt-full",
      contender: "edgegate",
      name: `+ JWT ES256, ${TOKEN_POOL.toLocaleString("en")} tokens, token cache off (full verify)`,
      kind: "jwt",
      url: atGateway,
      setup: withJwt(0),
      auth: many,
      pid: workerd,
    },
    {
      id: "eg-rl-do",
      contender: "edgegate",
      name: "1,000 routes + rate limit per IP, exact, Durable Object",
      kind: "limit",
      url: atGateway,
      setup: withLimit("durable-object", "exact"),
      pid: workerd,
    },
    {
      id: "eg-rl-upstash",
      contender: "edgegate",
      name: "1,000 routes + rate limit per IP, exact, Upstash (local Redis)",
      kind: "limit",
      url: atGateway,
      setup: withLimit("upstash", "exact"),
      pid: workerd,
    },
    {
      id: "eg-rl-local",
      contender: "edgegate",
      name: "1,000 routes + rate limit per IP, local-first (lease 1,000), Durable Object",
      kind: "limit",
      url: atGateway,
      setup: withLimit("durable-object", "local-first"),
      pid: workerd,
    },
    {
      id: "eg-breaker",
      contender: "edgegate",
      name: "1,000 routes + circuit breaker (closed), default settings",
      kind: "breaker",
      url: atGateway,
      setup: withBreaker,
      pid: workerd,
    },
    {
      id: "eg-chain",
      contender: "edgegate",
      name: `full chain: 1,000 routes + JWT (${TOKEN_POOL.toLocaleString("en")} tokens, cache on) + local-first limit per subject + claim header + breaker`,
      kind: "chain",
      url: atGateway,
      setup: fullChain,
      // One request per token: each subject takes its first lease (and creates its Durable Object)
      // before measuring, as a long-running deployment would have done long ago.
      prime: () => sendEach(atGateway, pool),
      auth: many,
      pid: workerd,
    },
    {
      id: "eg-junk",
      contender: "edgegate",
      name: "junk token refused (401)",
      kind: "refusal",
      url: atGateway,
      setup: withJwt(10_000),
      auth: junk,
      expectStatus: 401,
      pid: workerd,
    },
    { id: "nginx", contender: "nginx", name: "reverse proxy", kind: "plain", url: peerUrl(ports.nginxProxy), pid: pids.nginxProxy },
    { id: "haproxy", contender: "HAProxy", name: "reverse proxy", kind: "plain", url: peerUrl(ports.haproxy), pid: haproxyPids.plain },
    {
      id: "haproxy-chain",
      contender: "HAProxy",
      name: `JWT ES256 (jwt_verify, ${TOKEN_POOL.toLocaleString("en")} tokens) + stick-table rate count`,
      kind: "chain",
      url: peerUrl(ports.haproxyJwt),
      auth: many,
      pid: haproxyPids.jwt,
    },
    { id: "node", contender: "Node.js", name: "Fastify + @fastify/http-proxy", kind: "plain", url: peerUrl(ports.node), pid: pids.node },
    {
      id: "node-chain",
      contender: "Node.js",
      name: `Fastify + jose JWT ES256 (${TOKEN_POOL.toLocaleString("en")} tokens)`,
      kind: "chain",
      url: peerUrl(ports.nodeJwt),
      auth: many,
      pid: pids.nodeJwt,
    },
  ];
  const selected = only ? cases.filter((c) => only.test(c.id)) : cases;

  // wrk scripts per case: the token pool at saturation, and the same paced to the fixed rate.
  const scripts = new Map<string, { saturation?: string; fixed: string }>();
  for (const c of selected) {
    const tokens = c.auth ? tokenPoolLua(c.auth.tokens) : "";
    const saturation = c.auth ? resolve(WORK, `${c.id}.lua`) : undefined;
    if (saturation) writeFileSync(saturation, tokens);
    const fixed = resolve(WORK, `${c.id}-fixed.lua`);
    writeFileSync(fixed, tokens + pacedLua(settings.fixedRate, settings.fixedConnections));
    scripts.set(c.id, { ...(saturation ? { saturation } : {}), fixed });
  }

  // Rounds interleave the cases (A B C, A B C, ...) so that drift in the machine's speed over the
  // run lands on all of them alike instead of on whichever ran last.
  const results: CaseResult[] = selected.map((c) => ({ case: c, runs: [], command: "" }));
  let verify: Awaited<ReturnType<typeof measureVerify>> = [];
  let stage = { n: 0, plainUs: [] as number[], jwtUs: [] as number[] };
  const rss: Record<string, number> = {};
  const subrequests: Record<string, number> = {};
  const limiterCalls: Record<string, number> = {};
  const breakerCalls: Record<string, number> = {};
  let ejections: EjectionRun[] = [];
  let coalescing: CoalesceRun[] = [];
  try {
    for (let round = 0; round < settings.runs; round++) {
      for (const [index, c] of selected.entries()) {
        await c.setup?.();
        await c.prime?.();
        // Retried once: the check may reuse a keepalive connection the peer has since closed.
        const check = await fetch(c.url, { headers: c.auth?.headers ?? {} }).catch(() => fetch(c.url, { headers: c.auth?.headers ?? {} }));
        if (check.status !== (c.expectStatus ?? 200)) throw new Error(`${c.id}: ${c.url} answered ${check.status}`);
        await check.text();
        const script = scripts.get(c.id);
        const load = { cpu: LOAD_CPU, ...(script?.saturation ? { script: script.saturation } : {}) };
        await runWrk(c.url, { ...load, connections: settings.connections, seconds: settings.warmSeconds });
        const cpuBefore = c.pid ? cpuMicros(c.pid) : 0;
        const saturation = await runWrk(c.url, { ...load, connections: settings.connections, seconds: settings.seconds });
        const cpuUsed = c.pid ? cpuMicros(c.pid) - cpuBefore : Number.NaN;
        const fixed = await runWrk(c.url, {
          cpu: LOAD_CPU,
          connections: settings.fixedConnections,
          seconds: settings.fixedSeconds,
          script: script?.fixed ?? "",
        });
        // A case measuring refusals expects non-2xx answers; only the others are errors there.
        const expectedNon2xx = c.expectStatus !== undefined && c.expectStatus !== 200;
        const result = results[index] as CaseResult;
        result.command = saturation.command;
        result.runs.push({
          ...saturation.result,
          errors: saturation.result.errors - (expectedNon2xx ? saturation.result.non2xx : 0),
          cpuUsPerRequest: cpuUsed / saturation.result.requests,
          fixedRps: fixed.result.rps,
          fixedP50Ms: fixed.result.p50Ms,
          fixedP99Ms: fixed.result.p99Ms,
          fixedErrors: fixed.result.errors - (expectedNon2xx ? fixed.result.non2xx : 0),
        });
        console.log(
          `round ${round + 1}, ${c.contender}: ${c.name}: ${saturation.result.rps.toFixed(0)} req/s, ${(cpuUsed / saturation.result.requests).toFixed(0)} us/req; at ${settings.fixedRate}/s p99 ${fixed.result.p99Ms.toFixed(2)} ms`,
        );
      }
    }
    console.log("subrequests per request...");
    for (const c of selected.filter((x) => x.contender === "workerd" || x.contender === "edgegate")) {
      if (c.expectStatus !== undefined) continue;
      await c.setup?.();
      await c.prime?.();
      const limiterBefore = await counterTotal(gateway, "rate_limit_backend_calls_total");
      const breakerBefore = await counterTotal(gateway, "breaker_reports_total");
      subrequests[c.id] = await countOriginRequests(origin, c, 1_000);
      if (c.kind === "limit" || c.kind === "chain") {
        limiterCalls[c.id] = ((await counterTotal(gateway, "rate_limit_backend_calls_total")) - limiterBefore) / 1_000;
      }
      if (c.kind === "breaker" || c.kind === "chain") {
        breakerCalls[c.id] = ((await counterTotal(gateway, "breaker_reports_total")) - breakerBefore) / 1_000;
      }
    }
    if (!only || only.test("eject")) {
      console.log("time to ejection...");
      ejections = await measureEjection(gateway, origin, (config) => publish("ejection cluster", config), settings.runs);
    }
    if (!only || only.test("coalesce")) {
      console.log("request coalescing on a skewed read workload...");
      coalescing = await measureCoalescing(gateway, slowOriginPort, (config) => publish("coalescing routes", config), {
        connections: 64,
        seconds: settings.seconds,
        runs: settings.runs,
        loadCpu: LOAD_CPU,
        work: WORK,
      });
    }
    if (!only) {
      console.log("JWT verification cost inside workerd...");
      // Quick mode halves N: about half a second of CPU per run, enough for development.
      const scale = QUICK ? 0.5 : 1;
      verify = await measureVerify(`http://127.0.0.1:${ports.authBench}`, workerd, settings.runs, scale);
      stage = await measureStage(`http://127.0.0.1:${ports.authBench}`, workerd, settings.runs, scale);
    }
  } finally {
    rss.workerd = peakRssMiB(workerd);
    rss["nginx reverse proxy"] = peakRssMiB(pids.nginxProxy);
    rss["HAProxy (plain)"] = peakRssMiB(haproxyPids.plain);
    rss["HAProxy (JWT + rate count)"] = peakRssMiB(haproxyPids.jwt);
    rss["Node.js (plain)"] = peakRssMiB(pids.node);
    rss["Node.js (JWT)"] = peakRssMiB(pids.nodeJwt);
    await runtime.stop();
    for (const peer of Object.values(peers)) peer.kill();
    nginx.kill();
    await upstash.close();
  }
  writeReport({
    root: ROOT,
    work: WORK,
    settings,
    match,
    diff,
    results,
    verify,
    stage,
    rss,
    subrequests,
    limiterCalls,
    breakerCalls,
    ejections,
    coalescing,
    minutes: (Date.now() - started) / 60_000,
  });
}

await main();
