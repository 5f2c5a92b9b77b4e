/**
 * Process helpers for the benchmark: free ports, the nginx origin, wrk runs and CPU accounting.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { ensureSystemPackagesOrExit, type SystemToolName } from "../lib/system-packages.ts";

const execFileAsync = promisify(execFile);

/**
 * Makes sure the Debian tools named are there (nginx, wrk and HAProxy by default), installing them
 * when running as root; otherwise exits with one line naming the command that installs them.
 */
export async function ensureTools(tools: readonly SystemToolName[] = ["nginx", "wrk", "haproxy"]): Promise<void> {
  await ensureSystemPackagesOrExit(tools.map((tool) => ({ tool, why: "the benchmark runs it" })));
}

export const ORIGIN_BODY = '{"ok":true,"service":"origin","items":[1,2,3]}';

/**
 * A whole nginx config: one worker, no daemon, state under `dir`, access log off, and the given
 * lines inside `http { }`. Every nginx in the benchmark shares this frame.
 */
export function nginxFrame(dir: string, http: string): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}}
`;
}

/** nginx as the origin: keepalive on, a small JSON body, the benchmark's JWKS and a request counter. */
export function nginxConfig(dir: string, port: number, jwks = '{"keys":[]}'): string {
  return nginxFrame(
    dir,
    `  keepalive_timeout 65;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location / {
      default_type application/json;
      return 200 '${ORIGIN_BODY}';
    }
    # The identity provider's key set, for the authenticated scenarios.
    location = /jwks.json {
      default_type application/json;
      return 200 '${jwks}';
    }
    # Request counter: how many requests reached the origin (subrequests per gateway request).
    location = /__stub_status {
      stub_status;
    }
  }
`,
  );
}

/** Runs nginx pinned to `cpu` with the config `configFor(dir)` writes for its own directory. */
export function spawnNginx(workDir: string, name: string, cpu: number, configFor: (dir: string) => string): ChildProcess {
  const dir = resolve(workDir, name);
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, configFor(dir));
  return spawn("taskset", ["-c", String(cpu), "nginx", "-c", conf, "-p", dir], { stdio: "ignore" });
}

/** The origin nginx. */
export function startNginx(workDir: string, port: number, cpu: number, jwks?: string): ChildProcess {
  return spawnNginx(workDir, "nginx", cpu, (dir) => nginxConfig(dir, port, jwks));
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Responses outside 2xx/3xx (part of `errors`). */
  non2xx: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

export function parseWrk(output: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN);
  const total = /(\d+) requests in ([\d.]+)(\w+)/.exec(output);
  const p = (q: string) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(output);
    return m ? toMs(m[1] as string, m[2] as string) : Number.NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const seconds = total ? toMs(total[2] as string, total[3] as string) / 1000 : Number.NaN;
  return {
    requests: Number(total?.[1] ?? Number.NaN),
    seconds,
    rps,
    p50Ms: p("50"),
    p99Ms: p("99"),
    errors: non2xx + socketErrors,
    non2xx,
  };
}

export interface WrkOptions {
  seconds: number;
  connections: number;
  cpu: number;
  /** Extra request headers, "Name: value". */
  headers?: string[];
  /** A wrk Lua script file (a pool of tokens, pacing to a fixed rate). */
  script?: string;
}

/**
 * Runs wrk and waits for it without blocking this process: the event loop must keep draining what
 * workerd writes to its stdout (the gateway's access log), or the pipe fills up
 * and workerd stalls mid-run.
 */
export async function runWrk(url: string, options: WrkOptions): Promise<{ result: WrkResult; command: string }> {
  const args = [
    "-c",
    String(options.cpu),
    "wrk",
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    "--latency",
    ...(options.headers ?? []).flatMap((header) => ["-H", header]),
    ...(options.script ? ["-s", options.script] : []),
    url,
  ];
  const { stdout } = await execFileAsync("taskset", args, { encoding: "utf8" });
  return { result: parseWrk(stdout), command: `taskset ${args.join(" ")}` };
}

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** A process and its descendants (nginx's master and worker, say). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    for (const child of children ? children.split(" ") : []) out.push(...processTree(Number(child)));
  }
  return out;
}

/** utime + stime of a process, its threads and its child processes, in microseconds. */
export function cpuMicros(pid: number): number {
  let ticks = 0;
  for (const id of processTree(pid)) {
    const fields = readFileSync(`/proc/${id}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks / CLOCK_TICKS) * 1e6;
}

/** Peak resident memory of a process and its child processes, in MiB. */
export function peakRssMiB(pid: number): number {
  let kb = 0;
  for (const id of processTree(pid)) {
    kb += Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${id}/status`, "utf8"))?.[1] ?? Number.NaN);
  }
  return kb / 1024;
}

/** Requests nginx has served so far, from its stub_status page. */
export async function nginxRequestCount(origin: string): Promise<number> {
  const text = await (await fetch(`${origin}/__stub_status`)).text();
  return Number(/\n\s*\d+\s+\d+\s+(\d+)/.exec(text)?.[1] ?? Number.NaN);
}

export function pin(pid: number, cpu: number): void {
  execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
}
