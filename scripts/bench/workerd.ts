/**
 * Workers on `workerd serve` directly, the way the benchmark and the profiler run them: one process,
 * one config written here, outbound fetches straight to the network. Miniflare puts a JS outbound
 * worker in front of every subrequest a Worker makes (about 100 us of CPU per request measured
 * here), which a deployed Worker does not have; so the benchmark leaves Miniflare out.
 *
 * KV: workerd's KV binding talks HTTP to a service (GET, PUT and DELETE of `/<key>`, a list as GET
 * of `/?prefix=`); this module serves that from a Map in this process, one per gateway Worker (so
 * two gateways in one process can serve two configs), and hands the same Maps out as KV namespaces
 * for publishing. The Cache API likewise (cache-service.ts), one store per gateway Worker.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { publishConfig } from "../../src/config/store.ts";
import { wranglerCompatibility } from "../lib/gateway-worker.ts";
import { cacheServer } from "./cache-service.ts";

/** The KV namespace type the config store takes. */
type ConfigNamespace = Parameters<typeof publishConfig>[0];

const ROOT = resolve(import.meta.dirname, "../..");
const WORKERD = resolve(ROOT, "node_modules/.bin/workerd");

export interface WorkerSpec {
  name: string;
  /** The Worker's ES module (a bundle, or a plain script). */
  modulePath: string;
  port: number;
  bindings?: Record<string, string>;
  /** Bind the gateway's KV namespace (CONFIG) and Durable Objects. */
  gateway?: boolean;
}

/** The gateway's Durable Object bindings, as in wrangler.jsonc. */
const GATEWAY_OBJECTS: Record<string, string> = {
  RATE_LIMITER: "RateLimiter",
  BREAKER: "ClusterBreaker",
  CONFIG_PUBLISHER: "ConfigPublisher",
  IDEMPOTENCY: "IdempotencyStore",
  METRICS_AGGREGATOR: "MetricsAggregator",
};

export interface RunningWorkerd {
  pid: number;
  /** The first gateway's CONFIG namespace, for publishing configs the way the admin API and CLI do. */
  kv: ConfigNamespace;
  /** Each gateway Worker's CONFIG namespace, by Worker name. */
  namespaces: ReadonlyMap<string, ConfigNamespace>;
  stop(): Promise<void>;
}

/** The KV protocol workerd's binding speaks, over an in-memory Map. */
function kvServer(store: Map<string, string>): Server {
  return createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://kv");
    const key = decodeURIComponent(url.pathname.slice(1));
    if (req.method === "GET" && key === "") {
      // A list: the names under the prefix, in one page (no metadata is kept here).
      const prefix = url.searchParams.get("prefix") ?? "";
      const keys = [...store.keys()].filter((name) => name.startsWith(prefix)).map((name) => ({ name }));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys, list_complete: true }));
    } else if (req.method === "GET") {
      const value = store.get(key);
      res.writeHead(value === undefined ? 404 : 200).end(value);
    } else if (req.method === "PUT") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      store.set(key, Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200).end();
    } else if (req.method === "DELETE") {
      store.delete(key);
      res.writeHead(200).end();
    } else {
      res.writeHead(501).end("the benchmark's KV serves get, put and delete only");
    }
  });
}

function text(value: string): string {
  return JSON.stringify(value);
}

function workerConfig(spec: WorkerSpec, dir: string): string {
  const { compatibilityDate, compatibilityFlags } = wranglerCompatibility();
  const bindings = Object.entries(spec.bindings ?? {}).map(([name, value]) => `(name = ${text(name)}, text = ${text(value)})`);
  const lines = [
    `modules = [(name = ${text(basename(spec.modulePath))}, esModule = embed ${text(relative(dir, spec.modulePath))})]`,
    `compatibilityDate = ${text(compatibilityDate)}`,
    `compatibilityFlags = [${compatibilityFlags.map(text).join(", ")}]`,
    `globalOutbound = "internet"`,
  ];
  if (spec.gateway) {
    bindings.push(`(name = "CONFIG", kvNamespace = ${text(`kv-${spec.name}`)})`);
    // Only the objects this build exports: an A/B run may serve an older build beside this one.
    const source = readFileSync(spec.modulePath, "utf8");
    const exported = Object.entries(GATEWAY_OBJECTS).filter(([, className]) => source.includes(className));
    for (const [name, className] of exported) {
      bindings.push(`(name = ${text(name)}, durableObjectNamespace = ${text(className)})`);
    }
    const objects = exported.map(([, c]) => `(className = ${text(c)}, uniqueKey = ${text(`${spec.name}-${c}`)}, enableSql = true)`);
    lines.push(
      `durableObjectNamespaces = [${objects.join(", ")}]`,
      `durableObjectStorage = (localDisk = "objects")`,
      `cacheApiOutbound = ${text(`cache-${spec.name}`)}`,
    );
  }
  lines.push(`bindings = [${bindings.join(", ")}]`);
  return `(name = ${text(spec.name)}, worker = (${lines.join(", ")}))`;
}

export interface WorkerdOptions {
  /** The CPU it is pinned to (taskset). */
  cpu: number;
  inspectorPort?: number;
  /** V8 flags for every isolate of the process (workerd's `v8Flags`). */
  v8Flags?: string[];
  /**
   * A command workerd runs under instead of taskset (a valgrind tool, say), given workerd's own
   * command line. The process it starts must be the one that serves, for `pid`.
   */
  launcher?: (command: string[]) => string[];
  /** Writes to a gateway's KV namespace before workerd starts, so its first request already finds a config. */
  seed?: (kv: ConfigNamespace, worker: string) => Promise<void>;
  /** Receives each line workerd prints (the Workers' logs, its own diagnostics); without it they are dropped. */
  output?: (line: string) => void;
}

/** Starts one workerd process serving `workers`. Its stdout (access logs) is drained, or handed to `output`. */
export async function startWorkerd(dir: string, workers: WorkerSpec[], options: WorkerdOptions): Promise<RunningWorkerd> {
  mkdirSync(resolve(dir, "objects"), { recursive: true });
  const namespaces = new Map<string, ConfigNamespace>();
  const kvServers: Server[] = [];
  const kvServices: string[] = [];
  for (const worker of workers.filter((w) => w.gateway)) {
    const store = new Map<string, string>();
    const namespace = {
      get: async (key: string) => store.get(key) ?? null,
      put: async (key: string, value: string) => void store.set(key, value),
      delete: async (key: string) => void store.delete(key),
    } as unknown as ConfigNamespace;
    await options.seed?.(namespace, worker.name);
    const kv = kvServer(store);
    await new Promise<void>((r) => kv.listen(0, "127.0.0.1", r));
    namespaces.set(worker.name, namespace);
    kvServers.push(kv);
    const cache = cacheServer();
    await new Promise<void>((r) => cache.listen(0, "127.0.0.1", r));
    kvServers.push(cache);
    kvServices.push(
      `(name = ${text(`kv-${worker.name}`)}, external = (address = "127.0.0.1:${(kv.address() as AddressInfo).port}", http = ()))`,
      `(name = ${text(`cache-${worker.name}`)}, external = (address = "127.0.0.1:${(cache.address() as AddressInfo).port}", http = ()))`,
    );
  }
  const services = [
    ...workers.map((w) => workerConfig(w, dir)),
    `(name = "internet", network = (allow = ["public", "private", "local"]))`,
    ...kvServices,
    `(name = "objects", disk = (path = ${text(resolve(dir, "objects"))}, writable = true))`,
  ];
  const sockets = workers.map((w) => `(name = ${text(w.name)}, address = "127.0.0.1:${w.port}", http = (), service = ${text(w.name)})`);
  const config = resolve(dir, "workerd.capnp");
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";\nconst config :Workerd.Config = (\n  services = [\n    ${services.join(",\n    ")}\n  ],\n  sockets = [\n    ${sockets.join(",\n    ")}\n  ],\n  v8Flags = [${(options.v8Flags ?? []).map(text).join(", ")}]\n);\n`,
  );
  const inspector = options.inspectorPort === undefined ? [] : [`--inspector-addr=127.0.0.1:${options.inspectorPort}`];
  const workerd = [WORKERD, "serve", config, ...inspector];
  const [command, ...args] = options.launcher?.(workerd) ?? ["taskset", "-c", String(options.cpu), ...workerd];
  const child: ChildProcess = spawn(command as string, args, {
    cwd: dirname(config),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  const output = options.output;
  if (output === undefined) child.stdout?.resume();
  else for (const stream of [child.stdout, child.stderr]) if (stream) createInterface({ input: stream }).on("line", output);
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // Ready when every socket answers.
  for (const w of workers) {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`workerd exited: ${stderr}`);
      if (
        await fetch(`http://127.0.0.1:${w.port}/`).then(
          () => true,
          () => false,
        )
      )
        break;
      // Long enough for workerd under valgrind, which starts some 50 times slower.
      if (i > 2_000) throw new Error(`workerd did not listen on ${w.port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    // taskset execs workerd (and valgrind runs it in its own process), so the child is the server.
    pid: child.pid ?? 0,
    kv: namespaces.values().next().value as ConfigNamespace,
    namespaces,
    async stop() {
      child.kill();
      await exited;
      for (const kv of kvServers) {
        kv.closeAllConnections();
        kv.close();
      }
    },
  };
}
