/**
 * The local Upstash stand-in's Redis control with a real redis-server: a restart really starts one
 * whatever happened to the last (killed by a signal, stopped, exited), and fails, saying why, when
 * none can start. The dev stack, the integration tests and the benchmarks take Redis away and bring
 * it back through this control.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../../scripts/lib/free-port.ts";
import { type LocalUpstash, startLocalUpstash } from "../../scripts/lib/local-upstash.ts";

let upstash: LocalUpstash;
let redisPort: number;

async function command(...args: string[]): Promise<{ status: number; body: { result?: unknown; error?: string } }> {
  const response = await fetch(upstash.url, {
    method: "POST",
    headers: { authorization: `Bearer ${upstash.token}`, "content-type": "application/json" },
    body: JSON.stringify(args),
  });
  return { status: response.status, body: (await response.json()) as { result?: unknown; error?: string } };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Rejects if `promise` has not settled in `ms`: a hang is a failure, not a slow test. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, fail) => setTimeout(() => fail(new Error(`no answer in ${ms} ms`)), ms))]);
}

async function currentPid(): Promise<number> {
  const pid = await upstash.redisPid();
  if (pid === null) throw new Error("no redis-server is running");
  return pid;
}

beforeAll(async () => {
  const [port, chosenRedisPort] = await freePorts(2);
  redisPort = chosenRedisPort;
  upstash = await startLocalUpstash({ port, redisPort });
});

afterAll(async () => {
  await upstash?.close();
});

describe("local Upstash: restarting Redis", () => {
  it("keeps a running, answering Redis as it is", async () => {
    const pid = await currentPid();
    await upstash.startRedis();
    expect(await upstash.redisPid()).toBe(pid);
    expect((await command("PING")).body.result).toBe("PONG");
  });

  it.each(["SIGKILL", "SIGSEGV", "SIGTERM"] as const)("starts a new redis-server after the last one ended by %s", async (signal) => {
    expect((await command("SET", "k", "v")).body.result).toBe("OK");
    const old = await currentPid();
    process.kill(old, signal);
    await until(() => !alive(old), `redis-server ${old} is gone`);

    await within(upstash.startRedis(), 10_000);
    const pid = await currentPid();
    expect(pid).not.toBe(old);
    expect(alive(pid)).toBe(true);
    // A fresh Redis, empty, serving commands through the REST API.
    expect((await command("GET", "k")).body.result).toBeNull();
    expect((await command("SET", "k", "again")).body.result).toBe("OK");
  });

  it("replaces a redis-server that is alive but not answering", async () => {
    const old = await currentPid();
    process.kill(old, "SIGSTOP");
    await within(upstash.startRedis(), 10_000);
    const pid = await currentPid();
    expect(pid).not.toBe(old);
    await until(() => !alive(old), `the stopped redis-server ${old} is gone`);
    expect((await command("PING")).body.result).toBe("PONG");
  });

  it("stops, without hanging, a Redis that was already killed by a signal", async () => {
    const old = await currentPid();
    process.kill(old, "SIGKILL");
    await until(() => !alive(old), `redis-server ${old} is gone`);
    await within(upstash.stopRedis(), 5_000);
    expect(await upstash.redisPid()).toBeNull();
    await within(upstash.startRedis(), 10_000);
    expect((await command("PING")).body.result).toBe("PONG");
  });

  it("takes concurrent restarts one at a time: one redis-server, tracked, answering", async () => {
    const old = await currentPid();
    process.kill(old, "SIGKILL");
    await until(() => !alive(old), `redis-server ${old} is gone`);
    await within(Promise.all([upstash.startRedis(), upstash.startRedis(), upstash.startRedis()]), 15_000);
    const pid = await currentPid();
    expect(alive(pid)).toBe(true);
    expect((await command("PING")).body.result).toBe("PONG");
    // The tracked one is the one serving: a stop really stops Redis, and a start brings one back.
    await within(Promise.all([upstash.stopRedis(), upstash.stopRedis()]), 10_000);
    expect(alive(pid)).toBe(false);
    expect(await upstash.redisPid()).toBeNull();
    await within(upstash.startRedis(), 10_000);
    expect((await command("PING")).body.result).toBe("PONG");
  });

  it("refuses control calls without the token", async () => {
    const pid = await currentPid();
    for (const path of ["redis/stop", "redis/start", "status"]) {
      const response = await fetch(`${upstash.url}/__control/${path}`, { method: "POST" });
      expect(response.status).toBe(401);
      const wrong = await fetch(`${upstash.url}/__control/${path}`, { method: "POST", headers: { authorization: "Bearer nope" } });
      expect(wrong.status).toBe(401);
    }
    expect(await upstash.redisPid()).toBe(pid);
    expect(alive(pid)).toBe(true);
  });

  it("reports failure, with the reason, when no redis-server can start; succeeds once one can", async () => {
    await upstash.stopRedis();
    // Something else holds the port: answering connections, but it is not our Redis.
    const sockets = new Set<Socket>();
    const squatter: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("data", () => socket.write("+PONG\r\n"));
    });
    await new Promise<void>((done) => squatter.listen(redisPort, "127.0.0.1", () => done()));
    try {
      await expect(within(upstash.startRedis(), 10_000)).rejects.toThrow(/redis-server exited with code 1.*(?:in use|bind)/i);
      expect(await upstash.redisPid()).toBeNull();
    } finally {
      // The REST server's Redis client connects here too: cut it off so the port comes free.
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => squatter.close(done));
    }
    await within(upstash.startRedis(), 10_000);
    expect((await command("PING")).body.result).toBe("PONG");
  });
});
