/**
 * The CLI's command line: help for the whole tool and for each command, the version, and every
 * kind of usage error as one line on stderr with exit code 2 and no stack trace, for every command
 * and every option it does not take. A failure the CLI does not expect is one line and exit 3.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { type OptionSpec, parseFor, tokenize } from "../../scripts/cli/args.ts";
import { COMMANDS, main } from "../../scripts/cli/main.ts";
import * as options from "../../scripts/cli/options.ts";
import { cli, cliInProcess, type Run } from "./cli-support.ts";

const VERSION = (JSON.parse(readFileSync(resolve(import.meta.dirname, "../../package.json"), "utf8")) as { version: string }).version;
const ALL_OPTIONS = Object.values(options).filter((value): value is OptionSpec => typeof value === "object" && "name" in value);
const KNOWN = new Map(ALL_OPTIONS.map((option) => [option.name, option]));

/** A usage error as the issue asks for it: exit 2, nothing on stdout, one line on stderr pointing at the help. */
function expectUsageError(run: Run, help = "edgegate --help"): string {
  expect(run.code, run.stderr).toBe(2);
  expect(run.stdout).toBe("");
  expect(run.stderr.endsWith("\n")).toBe(true);
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^edgegate: /);
  expect(lines[0]).toContain(`see '${help}'`);
  expect(run.stderr).not.toMatch(/\n\s+at |ERR_|Error:/);
  return lines[0] as string;
}

describe("edgegate help and version", () => {
  it("--help, -h and help print the overview, every command in it, exit 0", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe("");
    expect(help.stdout).toContain("Usage: edgegate <command> [arguments] [options]");
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command.name}`);
    for (const line of ["Exit codes:", "  2  usage error", "EDGEGATE_URL", "EDGEGATE_ADMIN_TOKEN", "EDGEGATE_DEBUG=1"]) {
      expect(help.stdout).toContain(line);
    }
    expect((await cli(["-h"])).stdout).toBe(help.stdout);
    expect((await cli(["help"])).stdout).toBe(help.stdout);
  });

  it("--version prints the package's version", async () => {
    const run = await cli(["--version"]);
    expect(run).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  it("<command> --help and help <command> print the command's usage: synopsis, options with defaults, examples, exit codes", async () => {
    const spawned = await cli(["validate", "--help"]);
    expect(spawned.code).toBe(0);
    expect((await cli(["help", "validate"])).stdout).toBe(spawned.stdout);
    expect((await cli(["help", "api-key", "create"])).stdout).toBe((await cli(["api-key", "create", "-h"])).stdout);
    for (const command of COMMANDS) {
      const words = command.name.split(" ");
      const run = await cliInProcess([...words, "--help"]);
      expect(run.code, command.name).toBe(0);
      expect(run.stderr).toBe("");
      expect(await cliInProcess(["help", ...words])).toEqual(run);
      // Help wins over anything else on the line, even a mistake.
      expect(await cliInProcess([...words, "--no-such-option", "extra", "--help"])).toEqual(run);
      const text = run.stdout;
      expect(text).toContain(`Usage: edgegate ${command.name}`);
      for (const section of ["Options:", "Examples:", "Exit codes:"]) expect(text).toContain(section);
      const flowing = text.replace(/\s+/g, " ");
      for (const option of command.options) {
        expect(text).toContain(`--${option.name}${option.value ? ` ${option.value}` : ""}`);
        if (option.default) expect(flowing).toContain(`(default: ${option.default})`);
      }
      for (const [code] of command.exitCodes) expect(text).toMatch(new RegExp(`\\n  ${code}  `));
      for (const line of text.split("\n")) if (!line.startsWith("  edgegate ")) expect(line.length, line).toBeLessThanOrEqual(100);
    }
    expect((await cliInProcess(["help", "diff"])).stdout).toContain(
      "  --url URL      the gateway whose admin API to use (default: $EDGEGATE_URL, else\n",
    );
    const group = await cliInProcess(["api-key", "--help"]);
    expect(group.stdout).toContain("edgegate api-key create --consumer NAME --local|--remote [options]");
    expect(group.stdout).toContain("edgegate api-key revoke <key> --local|--remote [options]");
  });
});

describe("edgegate usage errors: exit 2, one line, no stack", () => {
  it("each kind, from a real process", async () => {
    const cases: Array<[string[], string, string?]> = [
      [[], "edgegate: no command given"],
      [["frobnicate"], "edgegate: unknown command 'frobnicate'"],
      [["valdate", "x.json"], "edgegate: unknown command 'valdate' (did you mean validate?)"],
      [["validate", "x.json", "--frobnicate"], "edgegate: unknown option --frobnicate", "edgegate validate --help"],
      [["diff", "x.json", "--exitcode"], "edgegate: unknown option --exitcode (did you mean --exit-code?)", "edgegate diff --help"],
      [["validate", "x.json", "-f"], "edgegate: unknown option -f", "edgegate validate --help"],
      [["validate", "x.json", "--force"], "edgegate: validate does not take --force", "edgegate validate --help"],
      [["get", "--json"], "edgegate: get does not take --json", "edgegate get --help"],
      [["versions", "--version"], "edgegate: versions does not take --version", "edgegate versions --help"],
      [["validate"], "edgegate: validate needs <file>", "edgegate validate --help"],
      [["validate", "a.json", "b.json"], "edgegate: validate takes only <file>; unexpected 'b.json'", "edgegate validate --help"],
      [["get", "extra"], "edgegate: get takes no arguments; unexpected 'extra'", "edgegate get --help"],
      [
        ["get", "--url", "ftp://example.com"],
        "edgegate: --url: must be an http or https URL, not 'ftp://example.com'",
        "edgegate get --help",
      ],
      [["rollback", "v1", "--expect"], "edgegate: --expect needs a value (VERSION)", "edgegate rollback --help"],
      [
        ["validate", "x.json", "--allow-private-upstreams=yes"],
        "edgegate: --allow-private-upstreams takes no value",
        "edgegate validate --help",
      ],
      [["get", "--url", "http://a", "--url", "http://b"], "edgegate: --url is given more than once", "edgegate get --help"],
      [["rollback", "v1", "--expect", "v0", "--force"], "edgegate: --expect and --force exclude each other", "edgegate rollback --help"],
      [["publish", "x.json", "--local", "--remote"], "edgegate: --local and --remote exclude each other", "edgegate publish --help"],
      [["api-key"], "edgegate: api-key needs an action: create or revoke", "edgegate api-key --help"],
      [["api-key", "create", "--local"], "edgegate: api-key create needs --consumer NAME", "edgegate api-key create --help"],
      [["help", "frobnicate"], "edgegate: unknown command 'frobnicate'"],
      [["--url", "http://a"], "edgegate: --url needs a command before it"],
      [["versions"], "edgegate: the admin API needs a token: --token or EDGEGATE_ADMIN_TOKEN", "edgegate versions --help"],
    ];
    for (const [args, start, help] of cases) {
      const run = await cli(args, args[0] === "versions" ? { EDGEGATE_ADMIN_TOKEN: "" } : {});
      expect(expectUsageError(run, help), args.join(" ")).toBe(`${start}; see '${help ?? "edgegate --help"}'`);
    }
  });

  it("every command refuses every option it does not take, and takes every one it declares", async () => {
    for (const command of COMMANDS) {
      const words = command.name.split(" ");
      const args = command.arguments.map((_, i) => `arg${i}`);
      const takes = new Set(command.options.map((option) => option.name));
      for (const option of ALL_OPTIONS) {
        const argv = [...words, ...args, ...(option.value ? [`--${option.name}`, "x"] : [`--${option.name}`])];
        if (takes.has(option.name)) {
          // Declared: read without complaint about the option itself (its value "x" may still be a bad one).
          // Checked on the reading alone: running `api-key revoke arg0 --local` would call wrangler.
          expect(() => parseFor(command, tokenize(argv, KNOWN), words.length), argv.join(" ")).not.toThrow(/does not take|unknown option/);
        } else {
          const line = expectUsageError(await cliInProcess(argv), `edgegate ${command.name} --help`);
          expect(line).toBe(`edgegate: ${command.name} does not take --${option.name}; see 'edgegate ${command.name} --help'`);
        }
      }
    }
  });

  it("every command refuses a missing or an extra argument", async () => {
    for (const command of COMMANDS) {
      const words = command.name.split(" ");
      const args = command.arguments.map((_, i) => `arg${i}`);
      const help = `edgegate ${command.name} --help`;
      expect(expectUsageError(await cliInProcess([...words, ...args, "extra"]), help)).toContain("unexpected 'extra'");
      if (args.length > 0) expect(expectUsageError(await cliInProcess(words), help)).toContain(`${command.name} needs <`);
    }
  });

  it("checks values and how options combine, before anything is read or sent", async () => {
    const cases: Array<[string[], string]> = [
      [["rollback", "v1", "--expect", "not a version"], "--expect: 'not a version' is not a config version"],
      [["api-key", "create", "--consumer", "a", "--local", "--expires-at", "tomorrow"], "--expires-at: 'tomorrow' is not an ISO 8601 time"],
      [["api-key", "create", "--consumer", "c".repeat(129), "--local"], "--consumer: may be at most 128 characters"],
      [["api-key", "create", "--consumer", "a"], "api-key create needs exactly one of --local or --remote"],
      [["api-key", "revoke", "k", "--remote", "--persist-to", "dir"], "--persist-to goes with --local"],
      [["api-key", "revoke", "k", "--local", "--binding", "not-a-name"], "--binding: 'not-a-name' is not a binding name"],
      [
        ["publish", "x.json", "--local", "--expect", "v1"],
        "--expect is for publishing through the admin API, not with --local or --remote",
      ],
      [
        ["publish", "x.json", "--remote", "--url", "http://a"],
        "--url is for publishing through the admin API, not with --local or --remote",
      ],
      [["publish", "x.json", "--allow-private-upstreams"], "--allow-private-upstreams goes with --local or --remote"],
      [["publish", "x.json", "--persist-to", "dir"], "--persist-to goes with --local or --remote"],
      [
        ["diff", "x.json", "--token", "--json"],
        "--token needs a value (TOKEN), and --json is an option: write --token=--json if it is the value",
      ],
      [["get"], "EDGEGATE_URL must be an http or https URL, not 'localhost:8787'"],
    ];
    for (const [args, message] of cases) {
      const env: Record<string, string> = args[0] === "get" ? { EDGEGATE_URL: "localhost:8787" } : {};
      expect(
        expectUsageError(await cliInProcess(args, env), `edgegate ${args[0] === "api-key" ? `api-key ${args[1]}` : args[0]} --help`),
      ).toContain(message);
    }
    // `--name=value` carries a value that starts with "-"; `--` ends the options.
    expect((await cliInProcess(["validate", "--", "--help"])).stderr).toBe("edgegate: --help: cannot be read: no such file\n");
  });

  it("reports a failure it does not expect in one line with exit 3, and its stack only with EDGEGATE_DEBUG=1", async () => {
    const run = async (env: Record<string, string>) => {
      let stderr = "";
      const code = await main(["validate", "-"], {
        out: () => {},
        err: (text) => (stderr += `${text}\n`),
        env,
        readStdin: () => Promise.reject(new TypeError("boom")),
      });
      return { code, stderr };
    };
    expect(await run({})).toEqual({ code: 3, stderr: "edgegate: unexpected error: TypeError: boom (EDGEGATE_DEBUG=1 shows where)\n" });
    const debug = await run({ EDGEGATE_DEBUG: "1" });
    expect(debug.code).toBe(3);
    expect(debug.stderr.split("\n")[0]).toBe("edgegate: unexpected error: TypeError: boom");
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
