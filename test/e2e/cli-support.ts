/**
 * The edgegate CLI as an operator runs it, for end-to-end tests: a child process against the
 * gateway the e2e setup serves, with config files written to a temporary folder.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inject } from "vitest";

const CLI = resolve(import.meta.dirname, "../../bin/edgegate.mjs");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `edgegate <args>` against the e2e gateway; `env` adds to or overrides its environment. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, EDGEGATE_URL: inject("e2eGatewayUrl"), EDGEGATE_ADMIN_TOKEN: inject("e2eAdminToken"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** A folder of config files for one test file; `write` puts a config in it and returns its path. */
export function configFiles(prefix: string): { dir: string; write: (config: unknown) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let files = 0;
  return {
    dir,
    write(config: unknown): string {
      const file = join(dir, `config-${files++}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      return file;
    },
  };
}
