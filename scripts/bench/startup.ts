/**
 * `npm run bench:startup` (about 2 minutes, needs Debian's `valgrind`): the deploy bundle's size and
 * its cold start, minified (as wrangler.jsonc deploys it) and unminified, both built from this
 * checkout. Prints a table; docs/deploy-bundle.md keeps the figures and what they decided.
 *
 * A cold start here is workerd's start up to its first answer: V8 compiling the bundle, running its
 * top level, and the first request (the config read from KV and compiled; a 404, since no route
 * takes `/`). Counted two ways, each against a Worker that only answers "ok":
 * - instructions under callgrind, which repeat to within 1%: the whole process, and V8's compile
 *   of the module alone (`v8::ScriptCompiler::CompileModule`, inclusive);
 * - the CPU time of the workerd process (all threads, from /proc), without valgrind: a time, but it
 *   moves with whatever else the machine runs.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { publishConfig } from "../../src/config/store.ts";
import { freePort } from "../lib/free-port.ts";
import { benchRoutes } from "./routes.ts";
import { ensureTools } from "./tools.ts";
import { startWorkerd } from "./workerd.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bench/startup");
/** Rounds under callgrind (a few seconds each) and without it (well under one). */
const COUNTED_ROUNDS = 5;
const TIMED_ROUNDS = 20;

interface Build {
  name: string;
  modulePath: string;
  gateway: boolean;
}

/** The CPU time a process has used, all its threads, in ms (/proc/<pid>/task/<tid>/schedstat: ns on CPU first). */
function cpuMs(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).reduce(
    (sum, tid) => sum + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6,
    0,
  );
}

/** The total and V8's module compile, inclusive, of callgrind's dump `file`. */
function countsOf(file: string): { total: number; compile: number } {
  const annotated = execFileSync("callgrind_annotate", ["--inclusive=yes", file], { encoding: "utf8", maxBuffer: 1 << 28 });
  const inclusive = (pattern: RegExp) =>
    Number(
      annotated
        .split("\n")
        .find((line) => pattern.test(line))
        ?.trim()
        .split(" ")[0]
        ?.replaceAll(",", "") ?? Number.NaN,
    );
  return { total: inclusive(/PROGRAM TOTALS/), compile: inclusive(/v8::ScriptCompiler::CompileModule\(/) };
}

/** One cold start of `build` in a fresh workerd: its instructions (under callgrind) or its CPU time. */
async function coldStart(build: Build, counted: boolean): Promise<{ total: number; compile: number }> {
  const dir = resolve(WORK, `run-${build.name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const runtime = await startWorkerd(
    dir,
    [
      {
        name: build.name,
        modulePath: build.modulePath,
        port: await freePort(),
        gateway: build.gateway,
        bindings: build.gateway ? { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "600000" } : {},
      },
    ],
    {
      cpu: 0,
      launcher: counted
        ? (workerd) => ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${dir}/callgrind.out`, ...workerd]
        : undefined,
      // The config is in KV before workerd starts: the first request reads and compiles it.
      seed: async (kv) => {
        const published = await publishConfig(kv, benchRoutes(1, "http://127.0.0.1:9"), { allowPrivateUpstreams: true });
        if (!published.ok) throw new Error("bench config invalid");
      },
    },
  );
  // startWorkerd returns once the first request was answered.
  try {
    if (!counted) return { total: cpuMs(runtime.pid), compile: Number.NaN };
    execFileSync("callgrind_control", ["-d", String(runtime.pid)], { stdio: "ignore" });
    return countsOf(resolve(dir, "callgrind.out.1"));
  } finally {
    await runtime.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** "median (min-max)", in the unit `scale` divides into. */
function spread(values: number[], scale: number, digits: number): string {
  const f = (v: number) => (v / scale).toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}-${f(Math.max(...values))})`;
}

async function main(): Promise<void> {
  await ensureTools(["valgrind"]);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const wrangler = (outdir: string, ...flags: string[]) =>
    execFileSync("wrangler", ["deploy", "--dry-run", "--env", "production", ...flags, "--outdir", resolve(WORK, outdir)], {
      cwd: ROOT,
      stdio: "ignore",
    });
  wrangler("minified");
  wrangler("unminified", "--minify=false");
  writeFileSync(resolve(WORK, "empty.js"), 'export default { fetch() { return new Response("ok"); } };\n');
  const builds: Build[] = [
    { name: "empty", modulePath: resolve(WORK, "empty.js"), gateway: false },
    { name: "unminified", modulePath: resolve(WORK, "unminified/index.js"), gateway: true },
    { name: "minified", modulePath: resolve(WORK, "minified/index.js"), gateway: true },
  ];

  const counts = new Map<string, Array<{ total: number; compile: number }>>();
  const cpu = new Map<string, number[]>();
  // Rounds alternate the builds, so a change in the machine's load falls on all of them alike.
  for (let round = 0; round < COUNTED_ROUNDS; round++)
    for (const build of builds) counts.set(build.name, [...(counts.get(build.name) ?? []), await coldStart(build, true)]);
  for (let round = 0; round < TIMED_ROUNDS; round++)
    for (const build of builds) cpu.set(build.name, [...(cpu.get(build.name) ?? []), (await coldStart(build, false)).total]);

  const empty = counts.get("empty") ?? [];
  const emptyTotal = median(empty.map((c) => c.total));
  const emptyCompile = median(empty.map((c) => c.compile));
  const emptyCpu = median(cpu.get("empty") ?? []);
  console.log(
    `cold start: median (min-max); callgrind over ${COUNTED_ROUNDS} rounds, CPU time over ${TIMED_ROUNDS}; "net": less the empty Worker's median\n`,
  );
  console.log("| build | bytes | gzip -9 | instructions, M | net, M | V8 module compile, M | net, M | CPU ms | net, ms |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const build of builds) {
    const source = readFileSync(build.modulePath);
    const c = counts.get(build.name) ?? [];
    const totals = c.map((x) => x.total);
    const compiles = c.map((x) => x.compile);
    const times = cpu.get(build.name) ?? [];
    console.log(
      `| ${build.name} | ${source.length.toLocaleString("en")} | ${gzipSync(source, { level: 9 }).length.toLocaleString("en")} | ${spread(totals, 1e6, 1)} | ${((median(totals) - emptyTotal) / 1e6).toFixed(1)} | ${spread(compiles, 1e6, 1)} | ${((median(compiles) - emptyCompile) / 1e6).toFixed(1)} | ${spread(times, 1, 1)} | ${(median(times) - emptyCpu).toFixed(1)} |`,
    );
  }
}

await main();
