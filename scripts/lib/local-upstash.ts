/**
 * Starts the local Upstash stand-in (local-upstash-server.ts: Debian's redis-server behind the
 * Upstash REST API) as a child process, for the dev stack, the tests and the benchmarks.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ensureSystemPackages, type SystemAccess } from "./system-packages.ts";

export interface LocalUpstash {
  url: string;
  token: string;
  /** The REST server's process (Redis is its child). */
  pid: number;
  /** REST calls served so far (control calls excluded). */
  calls(): Promise<number>;
  /** The running redis-server's process id, or null when none runs. */
  redisPid(): Promise<number | null>;
  stopRedis(): Promise<void>;
  /** Resolves once a redis-server really serves the port; rejects with the reason when none can. */
  startRedis(): Promise<void>;
  close(): Promise<void>;
}

const SERVER = fileURLToPath(new URL("./local-upstash-server.ts", import.meta.url));

/** Starts redis-server on `redisPort` and the Upstash REST API on `port`, both on 127.0.0.1. */
export async function startLocalUpstash(options: { port: number; redisPort: number; token?: string }): Promise<LocalUpstash> {
  const token = options.token ?? `local-${crypto.randomUUID()}`;
  const child = spawn(
    process.execPath,
    [SERVER, "--port", String(options.port), "--redis-port", String(options.redisPort), "--token", token],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  // Until it is ready, what it says is kept: a failed start rejects with its last line. Then the
  // REST server logs every failed reconnect while Redis is stopped on purpose; the rest is shown.
  let ready = false;
  let startOutput = "";
  child.stderr.on("data", (chunk: Buffer) => {
    const lines = chunk
      .toString("utf8")
      .split("\n")
      .filter((line) => line.trim() !== "" && !/Redis connection error|ECONNREFUSED|^\s+at /.test(line));
    if (!ready) startOutput = [startOutput, ...lines].join("\n").slice(-2_000);
    else if (lines.length > 0) process.stderr.write(`${lines.join("\n")}\n`);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        ready = true;
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once("error", (error) => reject(new Error(`local Upstash could not run: ${error.message}`)));
    // 'close', not 'exit': by then everything it wrote to stderr has been read.
    child.once("close", (code, signal) => {
      // Node ends an uncaught error's report with its version: the line before says what failed.
      const said = startOutput.split("\n").filter((line) => line.trim() !== "" && !/^Node\.js v\d/.test(line));
      const reason = said.at(-1) ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
      reject(new Error(`local Upstash did not start: ${reason}`));
    });
  });
  const control = async (path: string) => {
    const response = await fetch(`${url}/__control/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    const status = (await response.json()) as { calls: number; redis: boolean; redisPid: number | null; error?: string };
    if (!response.ok) throw new Error(`local Upstash ${path}: ${status.error ?? response.status}`);
    return status;
  };
  return {
    url,
    token,
    pid: child.pid ?? 0,
    calls: async () => (await control("calls")).calls,
    redisPid: async () => (await control("status")).redisPid,
    stopRedis: async () => void (await control("redis/stop")),
    startRedis: async () => void (await control("redis/start")),
    close: async () => {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
    },
  };
}

/**
 * `npm start`'s local Upstash: redis-server is installed first when it is missing and this process
 * is root. When it cannot be there, or the stand-in does not start, `warn` gets one line saying so
 * and the result is null: the dev stack runs without it, and Upstash policies fail open.
 */
export async function startLocalUpstashOrWarn(
  options: { port: number; redisPort: number },
  warn: (line: string) => void = console.warn,
  access?: SystemAccess,
): Promise<LocalUpstash | null> {
  try {
    await ensureSystemPackages([{ tool: "redis-server", why: "the local Upstash runs on it" }], access);
    return await startLocalUpstash(options);
  } catch (error) {
    warn(`${error instanceof Error ? error.message : String(error)}; policies with backend 'upstash' will fail open`);
    return null;
  }
}
