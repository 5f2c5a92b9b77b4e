/**
 * The CLI: reads the command line against the command table, prints help and the version, runs a
 * command, and turns every failure into one line on stderr with its exit code. Usage errors say
 * where the help is; a failure the CLI does not expect is a bug, exit 3, its stack shown only with
 * EDGEGATE_DEBUG=1.
 */

import { apiKeyCreate, apiKeyRevoke } from "./api-key-commands.ts";
import { type OptionSpec, parseFor, suggestion, tokenize } from "./args.ts";
import type { CommandSpec } from "./command.ts";
import { diff, get, publish, rollback, validate, versions } from "./config-commands.ts";
import { CliError, EXIT, oneLine, UsageError } from "./errors.ts";
import { commandHelp, groupHelp, overviewHelp } from "./help.ts";
import { version } from "./options.ts";
import type { Output } from "./output.ts";
import { packageVersion } from "./version.ts";

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly CommandSpec[] = [validate, diff, publish, get, versions, rollback, apiKeyCreate, apiKeyRevoke];

/** Commands named by two words: the group, then the action. */
const GROUPS = new Set(COMMANDS.filter((command) => command.name.includes(" ")).map((command) => command.name.split(" ")[0] as string));

/** Every option of any command (and --version), so that the command line can be split before the command is known. */
const ALL_OPTIONS: ReadonlyMap<string, OptionSpec> = new Map(
  [...COMMANDS.flatMap((command) => command.options), version].map((option) => [option.name, option]),
);

/** What the CLI runs with: its output, its environment and standard input. */
export interface Io extends Output {
  readonly env: Readonly<Record<string, string | undefined>>;
  readStdin(): Promise<Uint8Array>;
}

/** Runs `edgegate <argv>`; returns the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    return report(error, io);
  }
}

/** The command that positionals name: one word, or a group and its action; `group` when only the group is named. */
type Named = { command: CommandSpec; words: number } | { group: string; commands: CommandSpec[] };

function named(positionals: readonly string[]): Named {
  const [first, second] = positionals as [string, string | undefined];
  if (GROUPS.has(first)) {
    const commands = COMMANDS.filter((command) => command.name.startsWith(`${first} `));
    if (second === undefined) return { group: first, commands };
    const command = commands.find((candidate) => candidate.name === `${first} ${second}`);
    if (!command) {
      const actions = commands.map((candidate) => candidate.name.slice(first.length + 1));
      throw new UsageError(`unknown ${first} action '${second}'${suggestion(second, actions)}; it takes ${actions.join(" or ")}`, first);
    }
    return { command, words: 2 };
  }
  const command = COMMANDS.find((candidate) => candidate.name === first);
  if (!command) {
    const names = [...COMMANDS.map((candidate) => candidate.name.split(" ")[0] as string), "help"];
    throw new UsageError(`unknown command '${first}'${suggestion(first, new Set(names))}`);
  }
  return { command, words: 1 };
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const tokens = tokenize(argv, ALL_OPTIONS);
  const [first] = tokens.positionals;

  if (first === undefined) {
    if (tokens.help) return printed(io, overviewHelp(COMMANDS));
    const problem = tokens.problems[0];
    if (problem) throw new UsageError(problem.message);
    const [option] = tokens.options.filter((given) => given.name !== "version");
    if (option) throw new UsageError(`--${option.name} needs a command before it`);
    if (tokens.options.length > 0) return printed(io, packageVersion());
    throw new UsageError("no command given");
  }

  if (first === "help") {
    const topic = tokens.positionals.slice(1);
    if (topic.length === 0 || tokens.help) return printed(io, overviewHelp(COMMANDS));
    const problem = tokens.problems[0];
    if (problem) throw new UsageError(problem.message);
    if (tokens.options[0]) throw new UsageError(`help does not take --${tokens.options[0].name}`);
    const found = named(topic);
    const words = "group" in found ? 1 : found.words;
    if (topic.length > words) throw new UsageError(`help takes one command; unexpected '${topic[words]}'`);
    return printed(io, "group" in found ? groupHelp(found.group, found.commands) : commandHelp(found.command));
  }

  const found = named(tokens.positionals);
  if ("group" in found) {
    if (tokens.help) return printed(io, groupHelp(found.group, found.commands));
    const actions = found.commands.map((command) => command.name.slice(found.group.length + 1));
    throw new UsageError(`${found.group} needs an action: ${actions.join(" or ")}`, found.group);
  }
  const { command, words } = found;
  if (tokens.help) return printed(io, commandHelp(command));
  const args = parseFor(command, tokens, words);
  const problem = command.combination?.(args);
  if (problem) throw new UsageError(problem, command.name);
  return await command.run({ args, output: io, env: io.env, readStdin: () => io.readStdin() });
}

function printed(io: Io, text: string): number {
  io.out(text);
  return EXIT.ok;
}

/** One line on stderr for any failure, and its exit code. */
function report(error: unknown, io: Io): number {
  if (error instanceof UsageError) {
    const help = error.command ? `edgegate ${error.command} --help` : "edgegate --help";
    io.err(`edgegate: ${oneLine(error.message)}; see '${help}'`);
    return error.exitCode;
  }
  if (error instanceof CliError) {
    io.err(`edgegate: ${oneLine(error.message)}`);
    return error.exitCode;
  }
  const debug = io.env.EDGEGATE_DEBUG === "1";
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  io.err(`edgegate: unexpected error: ${oneLine(what)}${debug ? "" : " (EDGEGATE_DEBUG=1 shows where)"}`);
  if (debug && error instanceof Error && error.stack) io.err(error.stack);
  return EXIT.gateway;
}
