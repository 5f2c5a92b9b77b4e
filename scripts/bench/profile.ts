/**
 * `npm run profile`: a V8 CPU profile of the gateway under load, through workerd's inspector, to
 * find where per-request CPU goes. Prints the functions with the most self time.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { publishConfig } from "../../src/config/store.ts";
import { freePorts } from "../lib/free-port.ts";
import { benchRoutes } from "./routes.ts";
import { ensureTools, startNginx } from "./tools.ts";
import { startWorkerd } from "./workerd.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bench/profile");
mkdirSync(WORK, { recursive: true });
await ensureTools(["nginx", "wrk"]);
const [originPort, inspectorPort, gatewayPort] = await freePorts(3);
const nginx = startNginx(WORK, originPort, 1);
const O = `http://127.0.0.1:${originPort}`;
// PROFILE_BUNDLE profiles a bundle built elsewhere (another revision, say) instead of this checkout.
const bundle = process.env.PROFILE_BUNDLE ?? resolve(WORK, "gateway/index.js");
// The deploy bundle unminified: the same code, with the function names and lines a profile is read
// by (PROFILE_LINES names a function). Minifying leaves the instructions per request as they were
// (docs/deploy-bundle.md), so where the time goes is the same.
if (!process.env.PROFILE_BUNDLE)
  execFileSync("wrangler", ["deploy", "--dry-run", "--minify=false", "--outdir", resolve(WORK, "gateway")], { cwd: ROOT, stdio: "ignore" });
const runtime = await startWorkerd(
  WORK,
  [
    {
      name: "gateway",
      modulePath: bundle,
      port: gatewayPort,
      gateway: true,
      bindings: { ALLOW_PRIVATE_UPSTREAMS: "true", CONFIG_REFRESH_INTERVAL_MS: "500" },
    },
  ],
  { cpu: 0, inspectorPort },
);
const p = await publishConfig(runtime.kv, benchRoutes(10, O), { allowPrivateUpstreams: true });
if (!p.ok) throw new Error("bench config invalid");
// Profile only once the isolate serves the published version.
for (let i = 0; ; i++) {
  const health = (await (await fetch(`http://127.0.0.1:${gatewayPort}/__gateway/health`)).json()) as { config: { version: string | null } };
  if (health.config.version === p.version) break;
  if (i > 100) throw new Error("the gateway did not load the bench config");
  await new Promise((r) => setTimeout(r, 50));
}
const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{
  webSocketDebuggerUrl: string;
  title: string;
}>;
const target = targets.find((t) => t.title.includes("gateway")) ?? targets[0];
if (!target) throw new Error("no inspector target");
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r));
let id = 0;
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
}
const pending = new Map<number, (v: unknown) => void>();
ws.addEventListener("message", (m) => {
  const d = JSON.parse(String(m.data));
  pending.get(d.id)?.(d.result);
});
const call = (method: string, params = {}) =>
  new Promise<unknown>((r) => {
    pending.set(++id, r);
    ws.send(JSON.stringify({ id, method, params }));
  });
execFileSync("taskset", ["-c", "1", "wrk", "-t1", "-c32", "-d2s", `http://127.0.0.1:${gatewayPort}/bench/x`]);
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
execFileSync("taskset", ["-c", "1", "wrk", "-t1", "-c32", "-d5s", `http://127.0.0.1:${gatewayPort}/bench/x`]);
const { profile } = (await call("Profiler.stop")) as { profile: { nodes: ProfileNode[] } };
// Self time per function, and inclusive time (itself and everything it called, each sample counted once).
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
const name = (n: ProfileNode) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
for (const n of profile.nodes) {
  total += n.hitCount;
  self.set(name(n), (self.get(name(n)) ?? 0) + n.hitCount);
  const seen = new Set<string>();
  for (let at: ProfileNode | undefined = n; at !== undefined; at = byId.get(parentOf.get(at.id) ?? -1)) {
    if (seen.has(name(at))) continue;
    seen.add(name(at));
    inclusive.set(name(at), (inclusive.get(name(at)) ?? 0) + n.hitCount);
  }
}
const print = (title: string, times: Map<string, number>, n: number) => {
  console.log(title);
  for (const [k, v] of [...times].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(((100 * v) / total).toFixed(1).padStart(5), "%", k);
};
print("self time", self, 25);
print("inclusive time", inclusive, 40);
// PROFILE_LINES=<function name>: where inside that function the samples fell (line: share).
const focus = process.env.PROFILE_LINES;
if (focus) {
  const lines = new Map<number, number>();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName !== focus) continue;
    for (const t of n.positionTicks ?? []) lines.set(t.line, (lines.get(t.line) ?? 0) + t.ticks);
  }
  console.log(`lines of ${focus}`);
  for (const [line, ticks] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, 10))
    console.log(((100 * ticks) / total).toFixed(1).padStart(5), "%", `line ${line}`);
}
ws.close();
await runtime.stop();
nginx.kill();
