/** The help texts: the whole tool's (`edgegate --help`) and each command's, written from their specs. */
import type { OptionSpec } from "./args.ts";
import type { CommandSpec } from "./command.ts";

const WIDTH = 100;

/** Words of `text` on lines of at most WIDTH columns, each after `indent` spaces. */
function wrap(text: string, indent: number, firstIndent = indent): string[] {
  const lines: string[] = [];
  let line = " ".repeat(firstIndent);
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = " ".repeat(indent);
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines;
}

/** Two columns: each term, then its text wrapped beside it. */
function table(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const column = Math.min(Math.max(...rows.map(([term]) => term.length)) + 4, 34);
  return rows.flatMap(([term, text]) => {
    const head = `  ${term}`;
    if (head.length + 2 > column) return [head, ...wrap(text, column)];
    const [first, ...rest] = wrap(text, column, column);
    return [`${head}${(first as string).slice(head.length)}`, ...rest];
  });
}

function optionTerm(option: OptionSpec): string {
  return option.value ? `--${option.name} ${option.value}` : `--${option.name}`;
}

const HELP_OPTION: readonly [string, string] = ["-h, --help", "show this help"];

export function synopsis(command: CommandSpec): string {
  if (command.usage) return `edgegate ${command.usage}`;
  const words = [command.name, ...command.arguments.map((argument) => argument.name), ...(command.options.length > 0 ? ["[options]"] : [])];
  return `edgegate ${words.join(" ")}`;
}

/** `edgegate <command> --help`: synopsis, what it does, arguments, options with defaults, examples, exit codes. */
export function commandHelp(command: CommandSpec): string {
  const lines = [`edgegate ${command.name}: ${command.summary}`, "", `Usage: ${synopsis(command)}`, ""];
  for (const paragraph of command.details) lines.push(...wrap(paragraph, 0), "");
  if (command.arguments.length > 0) {
    lines.push("Arguments:", ...table(command.arguments.map((argument) => [argument.name, argument.description])), "");
  }
  const options = command.options.map(
    (option) => [optionTerm(option), option.default ? `${option.description} (default: ${option.default})` : option.description] as const,
  );
  lines.push("Options:", ...table([...options, HELP_OPTION]), "");
  lines.push("Examples:", ...command.examples.flatMap(([line, comment]) => [`  # ${comment}`, `  ${line}`]), "");
  lines.push("Exit codes:", ...table(command.exitCodes.map(([code, meaning]) => [String(code), meaning])));
  return lines.join("\n");
}

/** `edgegate api-key --help`: the commands of a group. */
export function groupHelp(group: string, commands: readonly CommandSpec[]): string {
  return [
    `edgegate ${group}: ${commands.map((command) => command.name.slice(group.length + 1)).join(", ")}`,
    "",
    "Usage:",
    ...commands.map((command) => `  ${synopsis(command)}`),
    "",
    "Commands:",
    ...table(commands.map((command) => [command.name, command.summary])),
    "",
    `'edgegate help ${group} <${commands.length > 1 ? "action" : commands[0]?.name}>' for one of them.`,
  ].join("\n");
}

/** `edgegate --help`: every command, the shared settings, the exit codes. */
export function overviewHelp(commands: readonly CommandSpec[]): string {
  return [
    "edgegate: manage an edgegate gateway's config through its admin API, or KV directly through wrangler.",
    "",
    "Usage: edgegate <command> [arguments] [options]",
    "       edgegate help [command]",
    "       edgegate --version",
    "",
    "Commands:",
    ...table([
      ...commands.map(
        (command) => [[command.name, ...command.arguments.map((argument) => argument.name)].join(" "), command.summary] as const,
      ),
      ["help [command]", "this help, or a command's"],
    ]),
    "",
    ...wrap(
      "A config <file> is JSON or YAML (.yaml, .yml); - reads it from standard input. Each command takes only its own options; 'edgegate help <command>' or 'edgegate <command> --help' lists them, with examples.",
      0,
    ),
    "",
    "Options:",
    ...table([HELP_OPTION, ["--version", "print edgegate's version"]]),
    "",
    "Environment:",
    ...table([
      ["EDGEGATE_URL", "the gateway, when --url is not given (default: http://localhost:8787)"],
      ["EDGEGATE_ADMIN_TOKEN", "the admin token, when --token is not given"],
      ["EDGEGATE_DEBUG=1", "print the stack trace of an unexpected error"],
    ]),
    "",
    "Exit codes:",
    ...table([
      ["0", "done"],
      ["1", "the config is invalid, or diff --exit-code found changes"],
      ["2", "usage error, or the config file cannot be read"],
      ["3", "the gateway could not be reached, refused the token, has no admin API, or failed; wrangler failed; or an unexpected error"],
      ["4", "conflict: the config changed since it was read"],
    ]),
  ].join("\n");
}
