/**
 * The coalescing benchmark: a skewed read workload (many clients, few hot URLs, a 20-50 ms origin)
 * through the same gateway, on a route without coalescing, on one with it, and on one with a
 * response cache (whose misses merge the same way). Reports origin calls per client request and
 * latency for each.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { runWrk, type WrkResult } from "./tools.ts";

/** Hot URLs and their shares of the traffic: Zipf-like (weight 1/rank), as hot keys tend to be. */
const HOT_PATHS = 8;

/** The cached route's lifetime: short, so every hot URL expires several times a run and its misses are measured too. */
export const CACHE_TTL_SEC = 1;

export interface CoalesceRun {
  mode: "off" | "on" | "cached";
  wrk: WrkResult;
  originCalls: number;
  /** Origin calls per client request. */
  originPerRequest: number;
}

export interface CoalesceSetup {
  connections: number;
  seconds: number;
  runs: number;
  loadCpu: number;
  work: string;
}

function skewedLua(prefix: string): string {
  const weights = Array.from({ length: HOT_PATHS }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  const cumulative = weights.map((w) => {
    acc += w / total;
    return acc.toFixed(6);
  });
  return `-- Each request picks one of ${HOT_PATHS} hot URLs, the k-th with weight 1/k.
local cum = { ${cumulative.join(", ")} }
request = function()
  local r = math.random()
  for i, c in ipairs(cum) do
    if r <= c then return wrk.format("GET", "${prefix}/item/" .. i) end
  end
  return wrk.format("GET", "${prefix}/item/${HOT_PATHS}")
end
`;
}

async function originHits(origin: string): Promise<number> {
  return ((await (await fetch(`${origin}/__hits`)).json()) as { hits: number }).hits;
}

/** The config the benchmark publishes: the same slow origin behind a plain route and a coalescing one. */
export function coalesceConfig(origin: string): GatewayConfigInput {
  return {
    clusters: { slow: { targets: [{ url: origin }] } },
    routes: [
      { id: "hot", match: { path: "/hot/*" }, cluster: "slow", rewrite: { stripPrefix: "/hot" } },
      { id: "hot-co", match: { path: "/hot-co/*" }, cluster: "slow", rewrite: { stripPrefix: "/hot-co" }, coalesce: {} },
      {
        id: "hot-ca",
        match: { path: "/hot-ca/*" },
        cluster: "slow",
        rewrite: { stripPrefix: "/hot-ca" },
        cache: { ttlSec: CACHE_TTL_SEC, public: true },
      },
    ],
  };
}

/** Runs the skewed workload without coalescing, with it, and with caching, in turn, `runs` times each. */
export async function measureCoalescing(
  gateway: string,
  originPort: number,
  publish: (config: GatewayConfigInput) => Promise<void>,
  setup: CoalesceSetup,
): Promise<CoalesceRun[]> {
  const child = spawn(
    "taskset",
    ["-c", String(setup.loadCpu), process.execPath, resolve(import.meta.dirname, "slow-origin.ts"), String(originPort)],
    {
      stdio: "ignore",
    },
  );
  const origin = `http://127.0.0.1:${originPort}`;
  try {
    for (let i = 0; i < 100; i++) {
      if (
        await originHits(origin)
          .then(() => true)
          .catch(() => false)
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await publish(coalesceConfig(origin));
    const scripts = {
      off: resolve(setup.work, "coalesce-off.lua"),
      on: resolve(setup.work, "coalesce-on.lua"),
      cached: resolve(setup.work, "coalesce-cached.lua"),
    };
    writeFileSync(scripts.off, skewedLua("/hot"));
    writeFileSync(scripts.on, skewedLua("/hot-co"));
    writeFileSync(scripts.cached, skewedLua("/hot-ca"));
    const out: CoalesceRun[] = [];
    for (let run = 0; run < setup.runs; run++) {
      for (const mode of ["off", "on", "cached"] as const) {
        const load = { cpu: setup.loadCpu, connections: setup.connections, script: scripts[mode] };
        await runWrk(`${gateway}/`, { ...load, seconds: 1 });
        const before = await originHits(origin);
        const { result } = await runWrk(`${gateway}/`, { ...load, seconds: setup.seconds });
        // Requests still in flight when wrk stops reach the origin but are not counted as sent: up to
        // `connections` of them, which is why the figure without coalescing can read a little above 1.
        const originCalls = (await originHits(origin)) - before;
        out.push({ mode, wrk: result, originCalls, originPerRequest: originCalls / result.requests });
        console.log(
          `${mode === "cached" ? "caching on" : `coalescing ${mode}`}, run ${run + 1}: ${result.rps.toFixed(0)} req/s, ${(originCalls / result.requests).toFixed(3)} origin calls per request, p99 ${result.p99Ms.toFixed(1)} ms`,
        );
      }
    }
    return out;
  } finally {
    child.kill();
  }
}
