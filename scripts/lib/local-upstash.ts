/**
 * Starts the local Upstash stand-in (local-upstash-server.ts: Debian's redis-server behind the
 * Upstash REST API) as a child process, for the dev stack, the tests and the benchmarks.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

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
  // The REST server logs every failed reconnect while Redis is stopped on purpose; the rest is shown.
  child.stderr.on("data", (chunk: Buffer) => {
    const lines = chunk
      .toString("utf8")
      .split("\n")
      .filter((line) => line.trim() !== "" && !/Redis connection error|ECONNREFUSED|^\s+at /.test(line));
    if (lines.length > 0) process.stderr.write(`${lines.join("\n")}\n`);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once("exit", (code) => reject(new Error(`local Upstash exited with ${code}; is redis-server installed?`)));
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
