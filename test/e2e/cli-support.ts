/**
 * The edgegate CLI as an operator runs it, for end-to-end tests: a child process against the
 * gateway the e2e setup serves, with config files written to a temporary folder. `cliInProcess`
 * runs the same entry (scripts/cli/main.ts) in the test's own process, for tables of cases that
 * would take a process each.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inject } from "vitest";
import { main } from "../../scripts/cli/main.ts";

const CLI = resolve(import.meta.dirname, "../../bin/edgegate.mjs");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `edgegate <args>` against the e2e gateway; `env` adds to or overrides its environment;
 * `input`, when given, is its standard input (otherwise it has none).
 */
export function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, EDGEGATE_URL: inject("e2eGatewayUrl"), EDGEGATE_ADMIN_TOKEN: inject("e2eAdminToken"), ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    // Both are pipes, as stdio says.
    child.stdout?.on("data", (chunk) => (stdout += chunk));
    child.stderr?.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => done({ code, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * The CLI's main() in this process, with the e2e gateway's settings and `input` as standard input:
 * the same exit code and output as `cli`, without a process.
 */
export async function cliInProcess(args: string[], env: Record<string, string> = {}, input = ""): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    out: (text) => (stdout += `${text}\n`),
    err: (text) => (stderr += `${text}\n`),
    env: { EDGEGATE_URL: inject("e2eGatewayUrl"), EDGEGATE_ADMIN_TOKEN: inject("e2eAdminToken"), ...env },
    readStdin: async () => new TextEncoder().encode(input),
  });
  return { code, stdout, stderr };
}

/**
 * A folder of config files for one test file: `write` puts a config in it as JSON and returns its
 * path, `writeText` any text under a name of the test's choosing (a YAML file, a broken one).
 */
export function configFiles(prefix: string): {
  dir: string;
  write: (config: unknown) => string;
  writeText: (name: string, text: string) => string;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let files = 0;
  return {
    dir,
    write(config: unknown): string {
      const file = join(dir, `config-${files++}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      return file;
    },
    writeText(name: string, text: string): string {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
  };
}
