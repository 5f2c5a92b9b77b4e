/**
 * `npm run bench:instructions` (about 10 minutes): instructions per request, counted by valgrind's
 * callgrind, for the bare passthrough Worker, the lower bound for a conforming Worker, the minimal
 * header-rewriting Worker, the gateway's routed GET and its full chain, all in one workerd process
 * in front of the nginx origin. Writes docs/instructions.md.
 *
 * CPU time on a shared VM swings by a third between rounds of the same binary; an instruction
 * count repeats to within a few percent. So this settles A/B questions about the hot path that the
 * throughput benchmark cannot: build both, count both. It is user space only (the kernel's share,
 * the same for every Worker, is not in it), and a count is not a time: throughput stays the
 * benchmark's business.
 *
 * INSTRUCTIONS_BUNDLE=<bundle> counts a gateway built elsewhere instead of this checkout.
 * INSTRUCTIONS_BASELINE=<bundle> counts that build too, in the same process, its rounds interleaved
 * with this one's: an A/B of a hot-path change (build the previous commit with `wrangler deploy
 * --dry-run --outdir <dir>`, give <dir>/index.js). It prints both and the difference;
 * docs/instructions.md gets this build's rows. INSTRUCTIONS_ROUNDS=<n> sets the rounds (default 2).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { cpus, release } from "node:os";
import { resolve } from "node:path";
import { publishConfig } from "../../src/config/store.ts";
import { freePorts } from "../lib/free-port.ts";
import { benchIdentityProvider, TOKEN_POOL } from "./identity.ts";
import { packageVersion, version } from "./report.ts";
import { benchRoutes, fullChainRoutes } from "./routes.ts";
import { ensureTools, startNginx } from "./tools.ts";
import { startWorkerd } from "./workerd.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bench/instructions");
/** Requests before counting: enough for V8 to have optimized the hot functions. */
const WARM = 3_000;
const COUNTED = 2_000;
/**
 * Under valgrind, V8's background compile jobs may never be installed: an isolate then runs its
 * hot functions in the interpreter for good, which read 15 to 20% above the same code optimized in
 * another isolate of the same process. Compiling on the main thread removes that, and a lower
 * TurboFan threshold (1,000 calls, against 3,000) has the hot functions in the top tier by the end
 * of the warm-up, as in an isolate that has served a while.
 */
const V8_FLAGS = ["--no-concurrent-recompilation", "--invocation-count-for-turbofan=1000"];
/**
 * Each case is counted this often and the lowest count kept: a round that a garbage collection
 * or a late recompilation lands in reads high, never low.
 */
const ROUNDS = Number(process.env.INSTRUCTIONS_ROUNDS ?? 2);

/**
 * The cache-hit case: the routed GET's route with a public cache whose copies stay fresh for the
 * whole run, so every counted request is served from the cache with no upstream call.
 */
const CACHED = { ttlSec: 86_400, public: true };

/**
 * `n` requests over 8 keep-alive connections, each carrying only a Host header (and, given
 * `tokens`, the next one as a bearer token), the way wrk sends them in the throughput benchmark;
 * every answer read to the end by its Content-Length.
 */
async function load(url: string, n: number, tokens: readonly string[] = []): Promise<void> {
  const { hostname, port, pathname } = new URL(url);
  const request = (i: number) =>
    tokens.length === 0
      ? `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`
      : `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${tokens[i % tokens.length]}\r\n\r\n`;
  let sent = 0;
  const connection = () =>
    new Promise<void>((done, fail) => {
      const socket = connect(Number(port), hostname);
      let pending = Buffer.alloc(0);
      const next = () => {
        if (sent >= n) return void socket.end(done);
        socket.write(request(sent++));
      };
      socket.on("connect", next).on("error", fail);
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          const headEnd = pending.indexOf("\r\n\r\n");
          if (headEnd === -1) return;
          const head = pending.subarray(0, headEnd).toString("latin1");
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
          if (!head.startsWith("HTTP/1.1 200") || Number.isNaN(length)) {
            socket.destroy();
            return fail(new Error(`${url} answered ${head.split("\r\n")[0]} without a Content-Length body`));
          }
          if (pending.length < headEnd + 4 + length) return;
          pending = pending.subarray(headEnd + 4 + length);
          next();
        }
      });
    });
  await Promise.all(Array.from({ length: 8 }, connection));
}

/** The Ir total of callgrind's latest dump in `dir` (dumps are numbered callgrind.out.1, .2, ...). */
function latestDumpTotal(dir: string): number {
  const dumps = readdirSync(dir)
    .map((f) => /^callgrind\.out\.(\d+)$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const text = readFileSync(resolve(dir, `callgrind.out.${Math.max(...dumps)}`), "utf8");
  return Number(/^summary: (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

async function main(): Promise<void> {
  const started = Date.now();
  await ensureTools(["nginx", "valgrind"]);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const bundle = process.env.INSTRUCTIONS_BUNDLE ?? resolve(WORK, "gateway/index.js");
  if (!process.env.INSTRUCTIONS_BUNDLE)
    execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", resolve(WORK, "gateway")], { cwd: ROOT, stdio: "ignore" });

  const baseline = process.env.INSTRUCTIONS_BASELINE;
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error("INSTRUCTIONS_ROUNDS must be a positive integer");
  const [originPort, passthroughPort, requiredPort, rewritingPort, gatewayPort, chainPort, cachedPort, baseGatewayPort, baseChainPort] =
    await freePorts(9);
  const idp = await benchIdentityProvider();
  const tokens = await Promise.all(Array.from({ length: TOKEN_POOL }, (_, i) => idp.sign(`user-${i}`)));
  const nginx = startNginx(WORK, originPort, 1, idp.jwks);
  const origin = `http://127.0.0.1:${originPort}`;
  process.on("exit", () => nginx.kill());
  const runtime = await startWorkerd(
    WORK,
    [
      {
        name: "passthrough",
        modulePath: resolve(import.meta.dirname, "passthrough.js"),
        port: passthroughPort,
        bindings: { ORIGIN: origin },
      },
      {
        name: "required",
        modulePath: resolve(import.meta.dirname, "required-writes.js"),
        port: requiredPort,
        bindings: { ORIGIN: origin },
      },
      {
        name: "rewriting",
        modulePath: resolve(import.meta.dirname, "rewriting-proxy.js"),
        port: rewritingPort,
        bindings: { ORIGIN: origin },
      },
      {
        name: "gateway",
        modulePath: bundle,
        port: gatewayPort,
        gateway: true,
        // No pointer check while counting: one every ten minutes.
        bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "600000" },
      },
      {
        name: "chain",
        modulePath: bundle,
        port: chainPort,
        gateway: true,
        bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "600000" },
      },
      {
        name: "cached",
        modulePath: bundle,
        port: cachedPort,
        gateway: true,
        bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "600000" },
      },
      ...(baseline === undefined
        ? []
        : [
            {
              name: "baseline-gateway",
              modulePath: resolve(baseline),
              port: baseGatewayPort,
              gateway: true,
              bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "600000" },
            },
            {
              name: "baseline-chain",
              modulePath: resolve(baseline),
              port: baseChainPort,
              gateway: true,
              bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "600000" },
            },
          ]),
    ],
    {
      cpu: 0,
      v8Flags: V8_FLAGS,
      launcher: (workerd) => [
        "valgrind",
        "--tool=callgrind",
        "--smc-check=all-non-file",
        `--callgrind-out-file=${WORK}/callgrind.out`,
        ...workerd,
      ],
      // The config is in KV before the first request, so the isolate never caches its absence.
      seed: async (kv, worker) => {
        const config = worker.endsWith("chain")
          ? fullChainRoutes(origin)
          : benchRoutes(1, origin, worker === "cached" ? { cache: CACHED } : {});
        const published = await publishConfig(kv, config, { allowPrivateUpstreams: true });
        if (!published.ok) throw new Error("bench config invalid");
      },
    },
  );
  const pid = String(runtime.pid);
  const cases = [
    { name: "bare passthrough Worker", url: `http://127.0.0.1:${passthroughPort}/hello` },
    { name: "lower bound for a conforming Worker", url: `http://127.0.0.1:${requiredPort}/hello` },
    { name: "minimal header-rewriting Worker", url: `http://127.0.0.1:${rewritingPort}/hello` },
    { name: "edgegate: routed GET, 1 route", url: `http://127.0.0.1:${gatewayPort}/bench/hello` },
    { name: "edgegate: full chain", url: `http://127.0.0.1:${chainPort}/bench/hello`, tokens },
    { name: "edgegate: cache hit", url: `http://127.0.0.1:${cachedPort}/bench/hello` },
  ];
  if (baseline !== undefined) {
    cases.push(
      { name: "baseline: routed GET, 1 route", url: `http://127.0.0.1:${baseGatewayPort}/bench/hello` },
      { name: "baseline: full chain", url: `http://127.0.0.1:${baseChainPort}/bench/hello`, tokens },
    );
  }
  const counts = new Map<string, number[]>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        await load(c.url, WARM, c.tokens);
        execFileSync("callgrind_control", ["-z", pid], { stdio: "ignore" });
        await load(c.url, COUNTED, c.tokens);
        execFileSync("callgrind_control", ["-d", pid], { stdio: "ignore" });
        const perRequest = latestDumpTotal(WORK) / COUNTED;
        counts.set(c.name, [...(counts.get(c.name) ?? []), perRequest]);
        console.log(`round ${round + 1}: ${c.name}: ${Math.round(perRequest).toLocaleString("en")} instructions per request`);
      }
    }
  } finally {
    await runtime.stop();
    nginx.kill();
  }

  const lowest = cases.map((c) => Math.min(...(counts.get(c.name) ?? [])));
  const passthrough = lowest[0] as number;
  console.log(`\ninstructions per request (lowest of ${ROUNDS} rounds, ${COUNTED} requests each after ${WARM} to warm up):`);
  cases.forEach((c, i) => {
    const count = lowest[i] as number;
    console.log(
      `  ${c.name.padEnd(34)} ${Math.round(count).toLocaleString("en").padStart(9)}  ${(count / passthrough).toFixed(2)}x the passthrough`,
    );
  });
  const minutes = (Date.now() - started) / 60_000;
  console.log(`(${minutes.toFixed(1)} minutes)`);
  if (baseline !== undefined) {
    // Cases 3 and 4 are this build's, the last two the baseline's, in the same order.
    for (const i of [3, 4]) {
      const now = lowest[i] as number;
      const before = lowest[cases.length - 5 + i] as number;
      const change = ((now - before) / before) * 100;
      console.log(
        `  ${(cases[i] as { name: string }).name}: ${Math.round(now).toLocaleString("en")} against the baseline's ${Math.round(before).toLocaleString("en")} (${change >= 0 ? "+" : ""}${change.toFixed(1)}%)`,
      );
    }
  }
  // docs/instructions.md holds this build's rows only.
  const own = baseline === undefined ? cases.length : cases.length - 2;
  writeFileSync(resolve(ROOT, "docs/instructions.md"), report(cases.slice(0, own), lowest.slice(0, own), minutes));
  console.log("wrote docs/instructions.md");
}

/** docs/instructions.md: the counts, the machine, and what they bound. */
function report(cases: Array<{ name: string }>, lowest: number[], minutes: number): string {
  const passthrough = lowest[0] as number;
  const lowerBound = lowest[1] as number;
  const rows = cases.map((c, i) => {
    const count = lowest[i] as number;
    return `| ${c.name} | ${Math.round(count).toLocaleString("en")} | ${(count / passthrough).toFixed(2)}x | ${(count / lowerBound).toFixed(2)}x |`;
  });
  return [
    "# Instructions per request",
    "",
    "Generated by `npm run bench:instructions` (scripts/bench/instructions.ts); do not edit by hand.",
    "",
    `Run: ${new Date().toISOString()}, ${minutes.toFixed(1)} minutes. Each Worker served ${WARM.toLocaleString("en")} requests to warm up, then ${COUNTED.toLocaleString("en")} counted ones under valgrind's callgrind (user-space instructions of the whole workerd process, runtime included), over 8 keep-alive connections carrying only a Host header, as wrk sends them; the lowest of ${ROUNDS} rounds. All of them run in one workerd process in front of one nginx origin, with V8 flags \`${V8_FLAGS.join(" ")}\` (under valgrind, background compile jobs may never be installed, leaving an isolate in the interpreter; the flags compile on the main thread and have the hot functions in TurboFan by the end of the warm-up, as in an isolate that has served a while).`,
    "",
    `- CPU: ${cpus()[0]?.model ?? "unknown"} x ${cpus().length}; Linux ${release()}`,
    `- ${version(resolve(ROOT, "node_modules/.bin/workerd"), ["--version"])}; wrangler ${packageVersion(ROOT, "wrangler")}; ${version("valgrind", ["--version"])}`,
    "",
    "| Worker | instructions per request | vs the bare passthrough | vs the lower bound |",
    "| --- | ---: | ---: | ---: |",
    ...rows,
    "",
    "- **Bare passthrough** (scripts/bench/passthrough.js): hands the client's request and the origin's response through untouched.",
    "- **Lower bound for a conforming Worker** (scripts/bench/required-writes.js): only the runtime calls the proxy contract cannot do without. The request's fields copied natively; X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id and traceparent written; a header deadline; the answer re-wrapped to return the request id. It does less than the contract asks (no hop-by-hop scan, no client-sent field dropped, nothing matched), so no gateway that keeps the contract costs less on this runtime.",
    "- **Minimal header-rewriting Worker** (scripts/bench/rewriting-proxy.js): the same kind of work with the hop-by-hop scan of both header sets added (it writes X-Forwarded-For where the lower bound writes traceparent).",
    "- **edgegate, routed GET**: the gateway with one route, as in `npm run bench`. The gateway is the deploy bundle (`wrangler deploy --dry-run`: minified, as deployed; its size and cold start, minified and not: [deploy-bundle.md](deploy-bundle.md)).",
    "- **edgegate, cache hit**: the routed GET's route with `cache: { ttlSec: 86400, public: true }`: every counted request is answered with a fresh copy from the Cache API and makes no upstream call. On plain workerd the Cache API is a service outside the counted process (scripts/bench/cache-service.ts answers workerd's cache protocol), as Cloudflare's cache is outside the isolate's; the lookup's own cost in the runtime is counted.",
    `- **edgegate, full chain**: as in \`npm run bench\`: 1,000 routes, JWT ES256 over a pool of ${TOKEN_POOL.toLocaleString("en")} tokens with the verified-token cache on (every token verified once during the warm-up, so each counted request is a cache hit), a local-first limit per subject on the Durable Object backend, the \`sub\` claim forwarded as a header, and a breaker with default settings on the cluster. Lease refills and breaker reports run in the background of the counted requests and are counted with them.`,
    "",
    "Instructions are user time only. The kernel's share of a request (sockets, timers) is not in them; it is about a third of the passthrough's user time on this machine and does not shrink for a busier Worker, so throughput ratios sit nearer 1 than these. `npm run bench` measures the throughput of the same Workers (BENCHMARKS.md): CPU time there swings by a third between rounds, which a count does not.",
    "",
  ].join("\n");
}

await main();
