/**
 * Route-match cost by table size: nanoseconds per lookup with 10, 1,000 and 10,000 routes, on the
 * same V8 engine workerd embeds. Returns the raw runs for the report.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { compileConfig } from "../../src/config/compile.ts";
import { parseConfig } from "../../src/config/schema.ts";
import { benchRoutes, samplePaths } from "./routes.ts";

export interface MatchResult {
  routes: number;
  compileMs: number;
  /** JS heap the compiled snapshot holds (a Worker isolate has 128 MB in all). */
  heapMiB: number;
  /** Requests spread over the same 10 routes, whatever the table size: the table-size effect. */
  hotNsPerLookup: number[];
  /** Requests spread over up to 1,024 distinct routes: adds the working-set (cache) effect. */
  spreadNsPerLookup: number[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

export function measureMatch(sizes: number[], lookups = 1_000_000, runs = 5): MatchResult[] {
  return sizes.map((size) => {
    const parsed = parseConfig(benchRoutes(size, "https://origin.example.com"), { allowPrivateUpstreams: false });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues.slice(0, 3)));
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const snapshot = compileConfig(parsed.config, "bench");
    const compileMs = performance.now() - started;
    collectGarbage();
    const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const time = (paths: string[]) => {
      let sink = 0;
      const nsPerLookup: number[] = [];
      for (let run = 0; run < runs + 1; run++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < lookups; i++) {
          const result = snapshot.table.lookup("api.example.com", "GET", paths[i & 1023] as string);
          if (result.kind === "matched") sink++;
        }
        const ns = Number(process.hrtime.bigint() - t0) / lookups;
        if (run > 0) nsPerLookup.push(ns); // the first run warms the JIT
      }
      if (sink === 0) throw new Error("no lookup matched");
      return nsPerLookup;
    };
    return {
      routes: size,
      compileMs,
      heapMiB,
      hotNsPerLookup: time(samplePaths(Math.min(size, 10), 1024)),
      spreadNsPerLookup: time(samplePaths(size, 1024)),
    };
  });
}

export { median };

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of measureMatch([10, 1_000, 10_000])) {
    console.log(
      `${r.routes} routes: hot ${median(r.hotNsPerLookup).toFixed(0)} ns, spread ${median(r.spreadNsPerLookup).toFixed(0)} ns per lookup (compile ${r.compileMs.toFixed(0)} ms)`,
    );
  }
}
