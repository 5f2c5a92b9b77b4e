/**
 * The local Upstash where redis-server cannot run, in a Node process of its own whose PATH has
 * neither redis-server nor apt-get: `npm start`'s start (scripts/dev.ts) prints one warning line,
 * no stack, and goes on without it; the starter itself rejects with one line of reason and leaves
 * nothing running; a redis-server that exits at once is reported with what it said.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { freePorts } from "../../scripts/lib/free-port.ts";

const STARTER = pathToFileURL(resolve(import.meta.dirname, "../../scripts/lib/local-upstash.ts")).href;
// Node alone: the directory of this Node binary holds no redis-server and no apt-get.
const NODE_ONLY_PATH = dirname(process.execPath);

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `body` (an ES module, with `ports` defined) in a fresh Node process with the given PATH. */
async function runWithPath(path: string, body: string): Promise<Outcome> {
  const [port, redisPort] = await freePorts(2);
  const child = spawn(
    process.execPath,
    ["--input-type=module", "-e", `const ports = { port: ${port}, redisPort: ${redisPort} };\n${body}`],
    { env: { ...process.env, PATH: path }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  // Nothing may keep it alive: it has to exit on its own, promptly.
  const code = await new Promise<number | null>((done, fail) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`still running after 15 s:\n${stdout}\n${stderr}`));
    }, 15_000);
    child.once("close", (exitCode) => {
      clearTimeout(timer);
      done(exitCode);
    });
  });
  return { code, stdout, stderr };
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

/** No stack frames and no Node error report in `text`. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/Unhandled 'error' event|triggerUncaughtException|^Node\.js v\d/m);
}

describe("local Upstash without redis-server", () => {
  it("npm start's start warns in one line, without a stack, and goes on without it", async () => {
    const outcome = await runWithPath(
      NODE_ONLY_PATH,
      `const { startLocalUpstashOrWarn } = await import(${JSON.stringify(STARTER)});
       const upstash = await startLocalUpstashOrWarn(ports);
       console.log(JSON.stringify({ started: upstash !== null }));`,
    );
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout)).toEqual({ started: false });
    // As root: there is no apt-get to install it with; otherwise: the command that installs it.
    const warning = lines(outcome.stderr);
    expect(warning, outcome.stderr).toHaveLength(1);
    expect(warning[0]).toMatch(/^missing redis-server \(the local Upstash runs on it\)/);
    expect(warning[0]).toMatch(/no apt-get to install|sudo apt-get update && sudo apt-get install -y redis-server/);
    expect(warning[0]).toContain("policies with backend 'upstash' will fail open");
    expectNoStack(outcome.stderr);
  });

  it("the starter rejects with one line of reason, prints nothing and leaves nothing running", async () => {
    const outcome = await runWithPath(
      NODE_ONLY_PATH,
      `const { startLocalUpstash } = await import(${JSON.stringify(STARTER)});
       const error = await startLocalUpstash(ports).then(() => null, (caught) => caught.message);
       console.log(JSON.stringify({ error }));`,
    );
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout)).toEqual({
      error: "local Upstash did not start: could not run redis-server: spawn redis-server ENOENT",
    });
    expect(outcome.stderr).toBe("");
  });

  it("reports a redis-server that exits at once with what it said", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgegate-redis-"));
    const fake = join(dir, "redis-server");
    writeFileSync(fake, "#!/bin/sh\necho 'Fatal error loading the DB, aborting.' >&2\nexit 1\n");
    chmodSync(fake, 0o755);
    const outcome = await runWithPath(
      `${dir}:${NODE_ONLY_PATH}`,
      `const { startLocalUpstashOrWarn } = await import(${JSON.stringify(STARTER)});
       const upstash = await startLocalUpstashOrWarn(ports);
       console.log(JSON.stringify({ started: upstash !== null }));`,
    );
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout)).toEqual({ started: false });
    expect(lines(outcome.stderr)).toEqual([
      "local Upstash did not start: redis-server exited with code 1: Fatal error loading the DB, aborting.; policies with backend 'upstash' will fail open",
    ]);
  });
});
