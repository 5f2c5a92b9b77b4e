/**
 * The Debian packages the project runs but npm cannot bring: redis-server (the local Upstash),
 * Chromium (the status-page test) and the benchmark's peers and tools. `ensureSystemPackages` finds
 * them on this machine and, when some are missing, installs them with apt-get, as root only,
 * non-interactively and within a time limit; otherwise it fails with one line that names what is
 * missing, why it is needed and the exact command to run. The dev stack, the test setups and the
 * benchmarks all go through it.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

interface SystemTool {
  /** The Debian package that provides it. */
  debianPackage: string;
  /** The command looked up on PATH, or an absolute path when callers run that exact file. */
  executable: string;
  /** Run once after the package was installed; its outcome is ignored. */
  afterInstall?: readonly string[];
}

/** Every system tool the project uses, by name. */
export const SYSTEM_TOOLS = {
  // The package starts a system instance on 6379 where the init system lets it; every user of it
  // here starts its own on a free port, so that one is stopped.
  "redis-server": { debianPackage: "redis-server", executable: "redis-server", afterInstall: ["service", "redis-server", "stop"] },
  // playwright-core drives this exact file (test/e2e/status-page.test.ts).
  chromium: { debianPackage: "chromium", executable: "/usr/bin/chromium" },
  nginx: { debianPackage: "nginx-light", executable: "nginx" },
  wrk: { debianPackage: "wrk", executable: "wrk" },
  // The package starts a system instance where the init system lets it; the tests start their own
  // on a free port, so that one is stopped. promtool comes with it.
  prometheus: { debianPackage: "prometheus", executable: "prometheus", afterInstall: ["service", "prometheus", "stop"] },
  haproxy: { debianPackage: "haproxy", executable: "haproxy" },
  valgrind: { debianPackage: "valgrind", executable: "valgrind" },
} as const satisfies Record<string, SystemTool>;

export type SystemToolName = keyof typeof SYSTEM_TOOLS;

/** A tool some command needs, and why, in a few words ("the Upstash rate-limit tests run against it"). */
export interface SystemNeed {
  tool: SystemToolName;
  why: string;
}

export type SystemPackageErrorCode =
  /** Something is missing and this process may not install it: the message has the command. */
  | "not-root"
  /** Something is missing and this machine has no apt-get (not Debian). */
  | "no-apt-get"
  /** apt-get exited with an error. */
  | "apt-get-failed"
  /** apt-get did not finish within its time limit and was stopped. */
  | "apt-get-timeout"
  /** apt-get succeeded, yet the tool is still not found. */
  | "still-missing";

/** Why a needed system tool is not there; `message` is one line meant for the person at the terminal. */
export class SystemPackageError extends Error {
  override readonly name = "SystemPackageError";
  readonly code: SystemPackageErrorCode;
  constructor(code: SystemPackageErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface CommandResult {
  /** The exit code, or null when the command was ended by a signal or could not start. */
  code: number | null;
  timedOut: boolean;
  /** The end of its output (stdout and stderr interleaved), or why it could not start. */
  output: string;
}

/** What `ensureSystemPackages` needs of the machine; tests hand in their own. */
export interface SystemAccess {
  /** Where `executable` (a command name or an absolute path) is, or null when it is not there. */
  find(executable: string): string | null;
  isRoot(): boolean;
  run(command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult>;
  /** One line of progress, for the terminal. */
  log(line: string): void;
}

/** apt-get's time limits: generous for a slow mirror, but bounded, so a stuck download never hangs a run. */
export const APT_UPDATE_TIMEOUT_MS = 5 * 60_000;
export const APT_INSTALL_TIMEOUT_MS = 15 * 60_000;
const AFTER_INSTALL_TIMEOUT_MS = 30_000;

// Nothing may wait for an answer: no debconf questions, no conffile prompts (the existing file is
// kept), and another apt holding the lock is waited for two minutes, not forever.
const APT_OPTIONS = [
  "-q",
  "-o",
  "DPkg::Lock::Timeout=120",
  "-o",
  "Dpkg::Options::=--force-confdef",
  "-o",
  "Dpkg::Options::=--force-confold",
];

/** The packages that provide `tools`, each once, in order. */
export function debianPackagesFor(tools: readonly SystemToolName[]): string[] {
  return [...new Set(tools.map((tool) => SYSTEM_TOOLS[tool].debianPackage))];
}

/** The command that installs `packages` by hand, for root or (with sudo) another user; apt's lists may be empty on a fresh machine. */
export function manualInstallCommand(packages: readonly string[], root = false): string {
  const sudo = root ? "" : "sudo ";
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packages.join(" ")}`;
}

/** The needs whose tool `find` does not find, each tool once (the first reason given for it). */
export function missingNeeds(needs: readonly SystemNeed[], find: SystemAccess["find"]): SystemNeed[] {
  const seen = new Set<SystemToolName>();
  return needs.filter((need) => {
    if (seen.has(need.tool)) return false;
    seen.add(need.tool);
    return find(SYSTEM_TOOLS[need.tool].executable) === null;
  });
}

function describeNeeds(needs: readonly SystemNeed[]): string {
  return needs.map((need) => `${need.tool} (${need.why})`).join(", ");
}

/** The last non-empty line of a command's output, for an error message of one line. */
function lastLine(output: string): string {
  return (
    output
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "")
      .at(-1) ?? "no output"
  );
}

/**
 * Makes sure every needed tool is there. When some are missing it installs their Debian packages
 * (as root: apt-get update, then apt-get install, each within its time limit) and checks again;
 * without root, or when apt-get is missing or fails, it throws a SystemPackageError whose message
 * is one line: what is missing, why, and the command that installs it. Installs nothing when all
 * are there.
 */
export async function ensureSystemPackages(needs: readonly SystemNeed[], access: SystemAccess = machineAccess()): Promise<void> {
  const missing = missingNeeds(needs, access.find);
  if (missing.length === 0) return;
  const packages = debianPackagesFor(missing.map((need) => need.tool));
  const root = access.isRoot();
  const command = manualInstallCommand(packages, root);
  if (!root)
    throw new SystemPackageError(
      "not-root",
      `missing ${describeNeeds(missing)}: install with \`${command}\`, or run this as root to have it installed`,
    );
  if (access.find("apt-get") === null)
    throw new SystemPackageError(
      "no-apt-get",
      `missing ${describeNeeds(missing)}, and no apt-get to install Debian's ${packages.join(" ")} with: install it by other means`,
    );

  access.log(`installing ${describeNeeds(missing)} from Debian (apt-get install -y ${packages.join(" ")}); this can take a few minutes`);
  const steps = [
    { what: "apt-get update", args: [...APT_OPTIONS, "update"], timeoutMs: APT_UPDATE_TIMEOUT_MS },
    { what: "apt-get install", args: [...APT_OPTIONS, "install", "-y", ...packages], timeoutMs: APT_INSTALL_TIMEOUT_MS },
  ];
  for (const { what, ...step } of steps) {
    const result = await access.run("apt-get", step.args, step.timeoutMs);
    if (result.timedOut)
      throw new SystemPackageError(
        "apt-get-timeout",
        `${what} did not finish within ${step.timeoutMs / 60_000} min and was stopped (${lastLine(result.output)}); install by hand: ${command}`,
      );
    if (result.code !== 0)
      throw new SystemPackageError(
        "apt-get-failed",
        `${what} failed (${result.code === null ? "no exit code" : `exit code ${result.code}`}: ${lastLine(result.output)}); install by hand: ${command}`,
      );
  }
  for (const need of missing) {
    const tool: SystemTool = SYSTEM_TOOLS[need.tool];
    const [after, ...args] = tool.afterInstall ?? [];
    if (after !== undefined) await access.run(after, args, AFTER_INSTALL_TIMEOUT_MS);
  }
  const still = missingNeeds(missing, access.find);
  if (still.length > 0)
    throw new SystemPackageError(
      "still-missing",
      `apt-get installed ${packages.join(" ")}, but ${still.map((need) => SYSTEM_TOOLS[need.tool].executable).join(", ")} is still not found`,
    );
}

/**
 * `ensureSystemPackages` for an entry point (a script, a test run's setup): when the packages
 * cannot be there, the error's one line goes to stderr and the process exits with code 1, with no
 * stack. Call it before starting anything that would need stopping.
 */
export async function ensureSystemPackagesOrExit(needs: readonly SystemNeed[], access?: SystemAccess): Promise<void> {
  try {
    await ensureSystemPackages(needs, access);
  } catch (error) {
    if (!(error instanceof SystemPackageError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

// Debian installs nginx and haproxy into /usr/sbin, which a user's PATH often leaves out.
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Where `executable` is: itself when absolute, else the first match on `path` (then the sbin directories). */
export function findExecutable(executable: string, path = process.env.PATH ?? ""): string | null {
  if (isAbsolute(executable)) return isExecutableFile(executable) ? executable : null;
  for (const dir of [...path.split(delimiter).filter((dir) => dir !== ""), ...SBIN]) {
    const candidate = join(dir, executable);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Runs `command` without a terminal and without input, in a process group of its own, so that on
 * its deadline the whole group (apt-get's dpkg and download helpers too) is stopped: SIGTERM, then
 * SIGKILL. Settles on the command's exit, whatever its children still hold open.
 */
export function runBounded(command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      // dpkg refuses to run without ldconfig and start-stop-daemon on PATH, which a PATH kept from
      // a user's shell (su without a login) can lack: the system directories are appended.
      env: { ...process.env, PATH: [process.env.PATH, SYSTEM_PATH].filter(Boolean).join(delimiter), DEBIAN_FRONTEND: "noninteractive" },
    });
    let output = "";
    let timedOut = false;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-4_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      signalGroup("SIGTERM");
      // Whatever of the group outlives the command's own exit is killed too, without keeping this
      // process alive for it.
      setTimeout(() => signalGroup("SIGKILL"), 10_000).unref();
    }, timeoutMs);
    const settle = (result: CommandResult) => {
      clearTimeout(deadline);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result);
    };
    child.once("error", (error) => settle({ code: null, timedOut, output: `could not run ${command}: ${error.message}` }));
    child.once("exit", (code) => settle({ code, timedOut, output }));
  });
}

/** This machine: PATH lookup, the process's uid, real commands, progress on stderr. */
export function machineAccess(): SystemAccess {
  return {
    find: (executable) => findExecutable(executable),
    isRoot: () => process.getuid?.() === 0,
    run: runBounded,
    log: (line) => console.error(line),
  };
}
