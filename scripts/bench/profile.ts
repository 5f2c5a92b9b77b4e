/**
 * `npm run profile`: a V8 CPU profile of the gateway under load, through workerd's inspector, to
 * find where per-request CPU goes. Prints the functions with the most self time.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { publishConfig } from "../../src/config/store.ts";
import { freePorts } from "../lib/free-port.ts";
import { benchRoutes } from "./routes.ts";
import { ensureTools, startNginx } from "./tools.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".bench/profile");
mkdirSync(WORK, { recursive: true });
ensureTools();
const [originPort, inspectorPort, gatewayPort] = (await freePorts(3)) as [number, number, number];
const nginx = startNginx(WORK, originPort, 1);
const O = `http://127.0.0.1:${originPort}`;
execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", resolve(WORK, "gateway")], { cwd: ROOT, stdio: "ignore" });
const bundle = resolve(WORK, "gateway/index.js");
const mf = new Miniflare(
  convertV4MiniflareOptions({
    inspectorPort,
    workers: [
      {
        name: "gw",
        modules: true,
        scriptPath: bundle,
        compatibilityDate: "2026-11-01",
        kvNamespaces: ["CONFIG"],
        bindings: { ALLOW_PRIVATE_UPSTREAMS: "true" },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: gatewayPort }],
      },
    ],
  }),
);
await mf.ready;
const p = await publishConfig(await mf.getKVNamespace("CONFIG", "gw"), benchRoutes(10, O), { allowPrivateUpstreams: true });
if (!p.ok) throw new Error("bench config invalid");
const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{
  webSocketDebuggerUrl: string;
  title: string;
}>;
const target = targets.find((t) => t.title.includes("gw")) ?? targets[0];
if (!target) throw new Error("no inspector target");
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r));
let id = 0;
interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
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
execFileSync("wrk", ["-t1", "-c32", "-d2s", `http://127.0.0.1:${gatewayPort}/bench/x`]);
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
execFileSync("wrk", ["-t1", "-c32", "-d5s", `http://127.0.0.1:${gatewayPort}/bench/x`]);
const { profile } = (await call("Profiler.stop")) as { profile: { nodes: ProfileNode[] } };
const self = new Map<string, number>();
let total = 0;
for (const n of profile.nodes) {
  const k = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
  self.set(k, (self.get(k) ?? 0) + n.hitCount);
  total += n.hitCount;
}
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(((100 * v) / total).toFixed(1).padStart(5), "%", k);
ws.close();
await mf.dispose();
nginx.kill();
