/**
 * The CLI as the installed package runs it: bin/edgegate.mjs under node_modules, with the bundle
 * that `npm run build:cli` writes and no TypeScript anywhere (Node strips types from no file under
 * node_modules). Run on a Node with type stripping turned off, so that any TypeScript would fail.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli } from "../../scripts/cli/build.ts";
import { configFiles } from "./cli-support.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const PROJECT = mkdtempSync(join(tmpdir(), "edgegate-installed-"));
const PACKAGE = join(PROJECT, "node_modules", "edgegate");
const { writeText } = configFiles("edgegate-bundle-");

function installed(args: string[], input?: string) {
  const run = spawnSync(process.execPath, ["--no-experimental-strip-types", join(PACKAGE, "bin/edgegate.mjs"), ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, EDGEGATE_URL: "http://127.0.0.1:9", EDGEGATE_ADMIN_TOKEN: "unused" },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  // The installed package's layout: what package.json's "files" puts in the tarball.
  for (const dir of ["bin", "dist/cli", "examples"]) mkdirSync(join(PACKAGE, dir), { recursive: true });
  for (const file of ["package.json", "bin/edgegate.mjs", "examples/config.json"]) copyFileSync(join(ROOT, file), join(PACKAGE, file));
  await buildCli(join(PACKAGE, "dist/cli/edgegate.mjs"));
  expect(existsSync(join(PACKAGE, "scripts"))).toBe(false);
});

afterAll(() => rmSync(PROJECT, { recursive: true, force: true }));

describe("the installed CLI", () => {
  it("prints its version and help, and validates JSON and YAML from a file or standard input", () => {
    expect(installed(["--version"]).stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(installed(["help", "diff"]).stdout).toContain("Usage: edgegate diff <file> [options]");
    const example = installed(["validate", join(PACKAGE, "examples/config.json"), "--allow-private-upstreams"]);
    expect(example.code, example.stderr).toBe(0);
    const shipped = JSON.parse(readFileSync(join(ROOT, "examples/config.json"), "utf8")) as { routes: unknown[] };
    expect(example.stdout).toContain(`valid (${shipped.routes.length} routes, 1 clusters)`);
    const yaml =
      "clusters:\n  api:\n    targets: [{url: 'https://api.example.com'}]\nroutes:\n  - {id: a, match: {path: /a}, cluster: api}\n";
    expect(installed(["validate", writeText("config.yaml", yaml)]).stdout).toContain("config.yaml: valid (1 routes, 1 clusters)");
    expect(installed(["validate", "-"], yaml)).toEqual({ code: 0, stdout: "stdin: valid (1 routes, 1 clusters)\n", stderr: "" });
  });

  it("gives the same exit codes and one-line errors", () => {
    expect(installed(["validate", "x.json", "--force"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "edgegate: validate does not take --force; see 'edgegate validate --help'\n",
    });
    expect(installed(["validate", "-"], "routes: [\n").stderr).toMatch(/^edgegate: stdin:2:1: is not valid YAML: [^\n]+\n$/);
    expect(installed(["validate", "-"], '{"routes": []}').code).toBe(1);
    const away = installed(["versions"]);
    expect(away.code).toBe(3);
    expect(away.stderr).toMatch(/^edgegate: cannot reach http:\/\/127\.0\.0\.1:9: [^\n]+\n$/);
  });
});
