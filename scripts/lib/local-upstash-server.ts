/**
 * A local stand-in for Upstash: Debian's redis-server behind the Upstash REST API
 * (@humanwhocodes/upstash-redis-server), for the dev stack, the tests and the benchmarks.
 *
 * Two adaptations keep it answering as Upstash does, and nothing else is changed on the way:
 * - The gateway's rate-limit scripts (src/services/rate-limit/upstash-scripts.ts) start with
 *   `#!lua flags=allow-key-locking`, an Upstash-only hint (lock only the declared keys) that Redis
 *   refuses as an unknown flag. That exact first line is removed before a script reaches Redis, and
 *   EVALSHA of the original script's SHA is mapped to the stripped one's, so the client's
 *   EVALSHA-first flow costs one call as it does on Upstash.
 * - The REST library's Redis client (ioredis) turns the reply of a lower-case `hgetall`, the
 *   spelling @upstash/redis sends, into an object; Upstash answers the flat field/value array the
 *   client expects. The command name is upper-cased, which ioredis leaves alone.
 *
 * It also checks the bearer token on every endpoint (the stand-in leaves /pipeline open), encodes
 * results in base64 when asked (`Upstash-Encoding: base64`, @upstash/redis's
 * default), counts calls, and can stop and restart Redis, so tests can take it away mid-run:
 * POST /__control/redis/stop and /__control/redis/start (which answers 500 with the reason unless a
 * redis-server of its own really serves the port afterwards), one at a time in order of arrival,
 * with the same bearer token; any other /__control/ path (calls, status) changes nothing; every
 * control answer says `{ calls, redis, redisPid }`.
 *
 * Runs as its own process (local-upstash.ts starts it): `--port P --redis-port R --token T`; it
 * prints one JSON line when ready and stops Redis when it is told to exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { inspect, parseArgs } from "node:util";
import { createApp } from "@humanwhocodes/upstash-redis-server";

const UPSTASH_ONLY_SHEBANG = "#!lua flags=allow-key-locking\n";

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

function stripped(command: unknown[], at: number, shas: Map<string, string>): unknown[] {
  const script = command[at];
  if (typeof script !== "string" || !script.startsWith(UPSTASH_ONLY_SHEBANG)) return command;
  const body = script.slice(UPSTASH_ONLY_SHEBANG.length);
  shas.set(sha1(script), sha1(body));
  const out = [...command];
  out[at] = body;
  return out;
}

/** Rewrites one command for stock Redis; `shas` maps original script SHAs to stripped ones. */
export function adaptCommand(command: unknown[], shas: Map<string, string>): unknown[] {
  const name = String(command[0]).toLowerCase();
  if (name === "hgetall") return ["HGETALL", ...command.slice(1)];
  if (name === "eval") return stripped(command, 1, shas);
  if (name === "script" && String(command[1]).toLowerCase() === "load") return stripped(command, 2, shas);
  if (name === "evalsha" && typeof command[1] === "string") {
    const mapped = shas.get(command[1]);
    if (mapped !== undefined) return [command[0], mapped, ...command.slice(2)];
  }
  return command;
}

function base64Results(value: unknown): unknown {
  if (typeof value === "string") return Buffer.from(value, "utf8").toString("base64");
  if (Array.isArray(value)) return value.map(base64Results);
  return value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The process id of the Redis answering on `port`, or undefined when none answers within
 * `timeoutMs`. Asking Redis itself (INFO server) tells our redis-server apart from anything else
 * that happens to listen there, such as a stale one from an earlier run.
 */
function redisProcessId(port: number, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const done = (pid: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once("connect", () => socket.write("INFO server\r\n"));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const match = /\r\nprocess_id:(\d+)\r\n/.exec(text);
      if (match) done(Number(match[1]));
    });
    socket.once("error", () => done(undefined));
    socket.once("close", () => done(undefined));
  });
}

/** One redis-server child. `exited` settles on its exit however it ends, by a signal included. */
interface RedisChild {
  process: ChildProcess;
  exited: Promise<string>;
  running: boolean;
  /** The end of its output, to say why it failed to start. */
  output: string;
}

function spawnRedis(port: number): RedisChild {
  // No persistence: a stopped Redis comes back empty, as a replaced instance would.
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child: RedisChild = { process: server, exited: Promise.resolve(""), running: true, output: "" };
  const keep = (chunk: Buffer) => {
    child.output = (child.output + chunk.toString("utf8")).slice(-2_000);
  };
  server.stdout?.on("data", keep);
  server.stderr?.on("data", keep);
  // 'exit' carries a signal when there is no code: checking exitCode alone misses a killed child.
  child.exited = new Promise((resolve) => {
    server.once("error", (error) => {
      child.running = false;
      resolve(`could not run redis-server: ${error.message}`);
    });
    server.once("exit", (code, signal) => {
      child.running = false;
      resolve(signal ? `redis-server was killed by ${signal}` : `redis-server exited with code ${code}`);
    });
  });
  return child;
}

/** Starts redis-server on `redisPort` and the REST API on `port` (both on 127.0.0.1). */
async function serve(options: { port: number; redisPort: number; token: string }): Promise<{ close(): Promise<void> }> {
  const token = options.token;
  let redis: RedisChild | null = null;
  const stopRedis = async () => {
    const child = redis;
    redis = null;
    if (child === null) return;
    if (child.running) child.process.kill("SIGKILL");
    await child.exited;
  };
  /**
   * Makes sure our redis-server serves `redisPort`, and says so only when it does: a child that is
   * gone (killed by a signal or exited) or alive but not answering (stopped, hung) is replaced, and
   * a new one counts as started only once Redis on the port reports that child's process id.
   */
  const startRedis = async () => {
    const current = redis?.running ? redis.process.pid : undefined;
    if (current !== undefined && (await redisProcessId(options.redisPort, 1_000)) === current) return;
    await stopRedis();
    const child = spawnRedis(options.redisPort);
    redis = child;
    const deadline = Date.now() + 5_000;
    for (;;) {
      if (!child.running) {
        redis = null;
        const tail = child.output.trim().split("\n").slice(-3).join(" | ");
        throw new Error(tail === "" ? await child.exited : `${await child.exited}: ${tail}`);
      }
      // A child that could not be spawned (no redis-server on PATH) has no pid, and neither has
      // "nobody answering": only a real pid counts, and the spawn error ends the loop above.
      const pid = child.process.pid;
      if (pid !== undefined && (await redisProcessId(options.redisPort, 250)) === pid) return;
      if (Date.now() > deadline) {
        await stopRedis();
        throw new Error(`redis-server did not answer on port ${options.redisPort} within 5 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  await startRedis();

  const app = createApp({ token, redisUrl: `redis://127.0.0.1:${options.redisPort}` });
  const shas = new Map<string, string>();
  let calls = 0;
  let controls: Promise<void> = Promise.resolve();

  const server: Server = createServer((req, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      if (req.url?.startsWith("/__control/")) {
        // The control endpoints take the same token: any local client could otherwise stop Redis.
        if (req.headers.authorization !== `Bearer ${token}`) {
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "Unauthorized" }));
          return;
        }
        let error: string | undefined;
        const url = req.url;
        // One control operation at a time, in order of arrival: two starts at once would each
        // replace the other's child, leaving one running that nobody tracks.
        const operation = controls.then(async () => {
          if (url === "/__control/redis/stop") await stopRedis();
          if (url === "/__control/redis/start") await startRedis();
        });
        controls = operation.catch(() => {});
        try {
          await operation;
        } catch (cause) {
          error = cause instanceof Error ? cause.message : String(cause);
        }
        const running = redis?.running === true;
        res.writeHead(error ? 500 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify({ calls, redis: running, redisPid: running ? redis?.process.pid : null, ...(error ? { error } : {}) }));
        return;
      }
      calls++;
      // Upstash checks the token on every endpoint; the stand-in guards only "/", not /pipeline.
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Unauthorized" }));
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const pipeline = req.url === "/pipeline" || req.url === "/multi-exec";
      const adapted = Array.isArray(parsed)
        ? pipeline
          ? parsed.map((c) => (Array.isArray(c) ? adaptCommand(c, shas) : c))
          : adaptCommand(parsed, shas)
        : parsed;
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
      const response = await app.fetch(
        new Request(`http://127.0.0.1${req.url ?? "/"}`, {
          method: req.method ?? "POST",
          headers,
          body: adapted === undefined ? body : JSON.stringify(adapted),
        }),
      );
      let text = await response.text();
      if (response.ok && headers.get("upstash-encoding") === "base64") {
        const json = JSON.parse(text) as { result?: unknown } | Array<{ result?: unknown }>;
        const encode = (entry: { result?: unknown }) => ("result" in entry ? { ...entry, result: base64Results(entry.result) } : entry);
        text = JSON.stringify(Array.isArray(json) ? json.map(encode) : encode(json));
      }
      // Upstash answers command errors with 400; the stand-in says 500. Clients treat both as errors.
      res.writeHead(response.status, { "content-type": "application/json" });
      res.end(text);
    })().catch(() => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "local upstash failed" }));
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(options.port, "127.0.0.1", resolve));

  return {
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stopRedis();
    },
  };
}

/** One log argument on one line: an Error by its name and message, anything else inspected flat. */
function oneLine(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return typeof value === "string" ? value : inspect(value, { breakLength: Number.POSITIVE_INFINITY });
}

if (import.meta.main) {
  // The REST library logs every failed reconnect as console.error(message, error), which Node
  // prints over many lines (the stack, then the error's own fields). The parent reads this stream
  // line by line (local-upstash.ts), so each call is written as one line.
  console.error = (...args: unknown[]) => void process.stderr.write(`${args.map(oneLine).join(" ")}\n`);
  const { values } = parseArgs({ options: { port: { type: "string" }, "redis-port": { type: "string" }, token: { type: "string" } } });
  const options = { port: Number(values.port), redisPort: Number(values["redis-port"]), token: values.token ?? "" };
  // A failed start is one line on stderr (local-upstash.ts reports it), not an uncaught stack.
  const running = await serve(options).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : oneLine(error)}\n`);
    process.exit(1);
  });
  const exit = () => void running.close().then(() => process.exit(0));
  process.once("SIGTERM", exit);
  process.once("SIGINT", exit);
  // The parent may die without a signal: stdin closing says so.
  process.stdin.once("end", exit);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${options.port}` })}\n`);
}
