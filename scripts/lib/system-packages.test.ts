/**
 * The decisions of the system-package helper, on an injected machine: nothing to do when every tool
 * is there; as root, apt-get update then install (bounded, non-interactive) and a check afterwards;
 * without root, no apt-get at all and one line with the exact command; a clear error for a machine
 * without apt-get, a failed or stuck apt-get, and a package that did not provide its tool. Then
 * the real lookup and the real bounded runner, on files and commands of the test's own.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  APT_INSTALL_TIMEOUT_MS,
  APT_UPDATE_TIMEOUT_MS,
  type CommandResult,
  ensureSystemPackages,
  findExecutable,
  runBounded,
  type SystemAccess,
  type SystemNeed,
  SystemPackageError,
  type SystemPackageErrorCode,
} from "./system-packages.ts";

const REDIS: SystemNeed = { tool: "redis-server", why: "the local Upstash runs on it" };
const CHROMIUM: SystemNeed = { tool: "chromium", why: "the status page is tested in a real browser" };

interface Run {
  command: string;
  args: readonly string[];
  timeoutMs: number;
}

/**
 * A machine with `present` executables, root or not; apt-get's steps answer from `answers` (by
 * "update" / "install"), other commands from `others`, and a successful install makes `installs`
 * present.
 */
function machine(options: {
  present: string[];
  root: boolean;
  answers?: Partial<Record<"update" | "install", Partial<CommandResult>>>;
  others?: Partial<CommandResult>;
  installs?: string[];
}) {
  const present = new Set(options.present);
  const runs: Run[] = [];
  const logs: string[] = [];
  const access: SystemAccess = {
    find: (executable) => (present.has(executable) ? `/found/${executable}` : null),
    isRoot: () => options.root,
    run: async (command, args, timeoutMs) => {
      runs.push({ command, args, timeoutMs });
      const step = command !== "apt-get" ? undefined : args.includes("install") ? "install" : "update";
      const result: CommandResult = { code: 0, timedOut: false, output: "", ...(step ? options.answers?.[step] : options.others) };
      if (step === "install" && result.code === 0) for (const installed of options.installs ?? []) present.add(installed);
      return result;
    },
    log: (line) => logs.push(line),
  };
  return { access, runs, logs };
}

async function failure(promise: Promise<unknown>): Promise<SystemPackageError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SystemPackageError);
  return error as SystemPackageError;
}

function expectOneLine(error: SystemPackageError, code: SystemPackageErrorCode): void {
  expect(error.code).toBe(code);
  expect(error.message).not.toContain("\n");
}

describe("ensureSystemPackages: decisions", () => {
  it("does nothing when every tool is there, root or not", async () => {
    for (const root of [true, false]) {
      const { access, runs, logs } = machine({ present: ["redis-server", "/usr/bin/chromium", "apt-get"], root });
      await ensureSystemPackages([REDIS, CHROMIUM], access);
      expect(runs).toEqual([]);
      expect(logs).toEqual([]);
    }
  });

  it("as root installs every missing package in one apt-get install, after an update, and says why once", async () => {
    const { access, runs, logs } = machine({
      present: ["apt-get"],
      root: true,
      installs: ["redis-server", "/usr/bin/chromium"],
    });
    await ensureSystemPackages([REDIS, CHROMIUM, { tool: "redis-server", why: "asked for twice" }], access);
    const apt = runs.filter((run) => run.command === "apt-get");
    expect(apt.map((run) => run.args.filter((arg) => !arg.startsWith("-") && !arg.includes("=")))).toEqual([
      ["update"],
      ["install", "redis-server", "chromium"],
    ]);
    // Nothing waits for an answer: -y, no conffile prompt, a bounded wait for apt's lock.
    expect(apt[1]?.args).toContain("-y");
    expect(apt[1]?.args).toContain("Dpkg::Options::=--force-confold");
    expect(apt.every((run) => run.args.some((arg) => /^DPkg::Lock::Timeout=\d+$/.test(arg)))).toBe(true);
    expect(apt.map((run) => run.timeoutMs)).toEqual([APT_UPDATE_TIMEOUT_MS, APT_INSTALL_TIMEOUT_MS]);
    expect(Math.max(APT_UPDATE_TIMEOUT_MS, APT_INSTALL_TIMEOUT_MS)).toBeLessThanOrEqual(15 * 60_000);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain("redis-server (the local Upstash runs on it)");
    expect(logs[0]).toContain("chromium (the status page is tested in a real browser)");
    expect(logs[0]).not.toContain("asked for twice");
  });

  it("stops the system Redis the package starts, and ignores whether that worked", async () => {
    const { access, runs } = machine({ present: ["apt-get"], root: true, installs: ["redis-server"], others: { code: 1 } });
    await ensureSystemPackages([REDIS], access);
    expect(runs.at(-1)).toMatchObject({ command: "service", args: ["redis-server", "stop"] });
  });

  it("installs only what is missing", async () => {
    const { access, runs } = machine({ present: ["apt-get", "redis-server"], root: true, installs: ["/usr/bin/chromium"] });
    await ensureSystemPackages([REDIS, CHROMIUM], access);
    expect(runs.find((run) => run.args.includes("install"))?.args.at(-1)).toBe("chromium");
    expect(runs.some((run) => run.args.includes("redis-server"))).toBe(false);
  });

  it("maps a tool to its Debian package (nginx comes from nginx-light)", async () => {
    const { access, runs } = machine({ present: ["apt-get", "wrk"], root: true, installs: ["nginx"] });
    await ensureSystemPackages(
      [
        { tool: "nginx", why: "the benchmark runs it" },
        { tool: "wrk", why: "the benchmark runs it" },
      ],
      access,
    );
    expect(runs.find((run) => run.args.includes("install"))?.args.at(-1)).toBe("nginx-light");
  });

  it("without root runs nothing and names the exact command, what is missing and why, in one line", async () => {
    const { access, runs, logs } = machine({ present: ["apt-get"], root: false });
    const error = await failure(ensureSystemPackages([REDIS, CHROMIUM], access));
    expectOneLine(error, "not-root");
    expect(error.message).toContain("`sudo apt-get update && sudo apt-get install -y redis-server chromium`");
    expect(error.message).toContain("redis-server (the local Upstash runs on it)");
    expect(error.message).toContain("chromium (the status page is tested in a real browser)");
    expect(runs).toEqual([]);
    expect(logs).toEqual([]);
  });

  it("as root without apt-get says so and runs nothing", async () => {
    const { access, runs } = machine({ present: [], root: true });
    const error = await failure(ensureSystemPackages([REDIS], access));
    expectOneLine(error, "no-apt-get");
    expect(error.message).toContain("redis-server");
    expect(runs).toEqual([]);
  });

  it("stops at a failed apt-get update, with apt's last line and the command to run by hand", async () => {
    const { access, runs } = machine({
      present: ["apt-get"],
      root: true,
      answers: { update: { code: 100, output: "Reading package lists...\nE: Could not resolve 'deb.debian.org'\n" } },
    });
    const error = await failure(ensureSystemPackages([REDIS], access));
    expectOneLine(error, "apt-get-failed");
    expect(error.message).toContain("apt-get update failed (exit code 100: E: Could not resolve 'deb.debian.org')");
    // Root needs no sudo to run it again by hand.
    expect(error.message).toMatch(/; install by hand: apt-get update && apt-get install -y redis-server$/);
    expect(runs.some((run) => run.args.includes("install"))).toBe(false);
  });

  it("reports a failed apt-get install, and one that could not run", async () => {
    const failed = machine({
      present: ["apt-get"],
      root: true,
      answers: { install: { code: 100, output: "E: Unable to locate package chromium" } },
    });
    const error = await failure(ensureSystemPackages([CHROMIUM], failed.access));
    expectOneLine(error, "apt-get-failed");
    expect(error.message).toContain("apt-get install failed (exit code 100: E: Unable to locate package chromium)");

    const unrunnable = machine({
      present: ["apt-get"],
      root: true,
      answers: { update: { code: null, output: "could not run apt-get: EACCES" } },
    });
    const cannot = await failure(ensureSystemPackages([CHROMIUM], unrunnable.access));
    expectOneLine(cannot, "apt-get-failed");
    expect(cannot.message).toContain("no exit code: could not run apt-get: EACCES");
  });

  it("reports an apt-get stopped at its time limit", async () => {
    const { access } = machine({
      present: ["apt-get"],
      root: true,
      answers: { install: { code: null, timedOut: true, output: "Get:12 http://deb.debian.org/debian bookworm/main chromium" } },
    });
    const error = await failure(ensureSystemPackages([CHROMIUM], access));
    expectOneLine(error, "apt-get-timeout");
    expect(error.message).toContain(`apt-get install did not finish within ${APT_INSTALL_TIMEOUT_MS / 60_000} min`);
  });

  it("reports a tool still missing after a successful install", async () => {
    const { access } = machine({ present: ["apt-get"], root: true, installs: [] });
    const error = await failure(ensureSystemPackages([CHROMIUM], access));
    expectOneLine(error, "still-missing");
    expect(error.message).toContain("/usr/bin/chromium is still not found");
  });
});

describe("findExecutable", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-find-"));
  const tool = join(dir, "edgegate-test-tool");
  writeFileSync(tool, "#!/bin/sh\nexit 0\n");
  chmodSync(tool, 0o755);
  const plain = join(dir, "edgegate-plain-file");
  writeFileSync(plain, "not a program");

  it("finds a command on the PATH it is given, and not on one without it", () => {
    expect(findExecutable("edgegate-test-tool", `/nonexistent:${dir}`)).toBe(tool);
    expect(findExecutable("edgegate-test-tool", "/nonexistent")).toBeNull();
    expect(findExecutable("edgegate-plain-file", dir)).toBeNull();
  });

  it("takes an absolute path as it is: an executable file or nothing", () => {
    expect(findExecutable(tool, "")).toBe(tool);
    expect(findExecutable(plain, dir)).toBeNull();
    expect(findExecutable(join(dir, "missing"), dir)).toBeNull();
    expect(findExecutable(dir, "")).toBeNull();
  });
});

describe("runBounded", () => {
  it("returns the exit code and the output", async () => {
    const result = await runBounded("sh", ["-c", "echo out; echo err >&2; exit 3"], 10_000);
    expect(result).toMatchObject({ code: 3, timedOut: false });
    expect(result.output).toContain("out");
    expect(result.output).toContain("err");
  });

  it("never waits past its deadline, even for children that outlive the command", async () => {
    const started = Date.now();
    const result = await runBounded("sh", ["-c", "sleep 30 & sleep 30; wait"], 300);
    expect(result.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("gives no input: a command reading its stdin sees the end at once", async () => {
    const result = await runBounded("sh", ["-c", "read answer; echo got:$answer"], 5_000);
    expect(result).toMatchObject({ code: 0, timedOut: false });
    expect(result.output.trim()).toBe("got:");
  });

  it("says when the command cannot run", async () => {
    const result = await runBounded("edgegate-no-such-command", [], 5_000);
    expect(result.code).toBeNull();
    expect(result.output).toContain("could not run edgegate-no-such-command");
  });
});
