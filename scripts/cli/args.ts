/**
 * The command line, read against the commands' own option tables: a command takes exactly the
 * options it declares, and anything else (an unknown option, another command's option, a missing
 * or extra argument, a bad value) is a UsageError naming the first problem in argv order.
 */
import { UsageError } from "./errors.ts";

/** An option: a flag, or one that takes a value (`value` names it in the help, e.g. "URL"). */
export interface OptionSpec {
  /** Without the dashes: "exit-code". */
  readonly name: string;
  readonly value?: string;
  readonly description: string;
  /** The default as the help shows it, when there is one. */
  readonly default?: string;
  /** The problem with a given value, or undefined when it is fine. */
  readonly check?: (value: string) => string | undefined;
}

export interface ArgumentSpec {
  /** As the help shows it: "<file>". */
  readonly name: string;
  readonly description: string;
}

/** What one command takes; its help is written from this (help.ts). */
export interface CommandShape {
  /** "validate", or "api-key create" for a command with an action. */
  readonly name: string;
  readonly arguments: readonly ArgumentSpec[];
  readonly options: readonly OptionSpec[];
}

/** A command line read against its command: the arguments, and each option given once. */
export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly options: ReadonlyMap<string, string | true>;
}

/** The value of a flag in parsed arguments. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}

/** The value of an option that takes one, or undefined when it was not given. */
export function text(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name);
  return typeof value === "string" ? value : undefined;
}

/** The command line split into words, before the command is known. */
export interface Tokens {
  /** Arguments that are not options, the command's name first. */
  readonly positionals: string[];
  /** Options in the order given, with their place in argv. */
  readonly options: Array<{ name: string; value: string | true; index: number }>;
  /** -h or --help anywhere before `--`. */
  readonly help: boolean;
  /** Problems found while splitting (an unknown option, a missing value), with their place in argv. */
  readonly problems: Array<{ index: number; message: string }>;
}

/**
 * Splits argv into options and positionals. `known` is every option any command takes, so that
 * `--url X` reads X as the option's value wherever the option stands. `--name=value` and
 * `--name value` both work; a value that starts with "-" needs the first form; `--` ends the options.
 */
export function tokenize(argv: readonly string[], known: ReadonlyMap<string, OptionSpec>): Tokens {
  const tokens: Tokens = { positionals: [], options: [], help: false, problems: [] };
  let onlyPositionals = false;
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index] as string;
    if (onlyPositionals || word === "-" || !word.startsWith("-")) {
      tokens.positionals.push(word);
      continue;
    }
    if (word === "--") {
      onlyPositionals = true;
      continue;
    }
    if (word === "-h" || word === "--help") {
      (tokens as { help: boolean }).help = true;
      continue;
    }
    if (!word.startsWith("--")) {
      tokens.problems.push({ index, message: `unknown option ${word}` });
      continue;
    }
    const equals = word.indexOf("=");
    const name = equals === -1 ? word.slice(2) : word.slice(2, equals);
    const inline = equals === -1 ? undefined : word.slice(equals + 1);
    const spec = known.get(name);
    if (!spec) {
      tokens.problems.push({ index, message: `unknown option --${name}${suggestion(name, known.keys(), "--")}` });
      continue;
    }
    if (!spec.value) {
      if (inline !== undefined) tokens.problems.push({ index, message: `--${name} takes no value` });
      else tokens.options.push({ name, value: true, index });
      continue;
    }
    let value = inline;
    const next = argv[index + 1];
    if (value === undefined && next !== undefined && (next === "-" || !next.startsWith("-"))) {
      value = next;
      index++;
    }
    if (value === undefined || value === "") {
      const hint = next?.startsWith("-") && next !== "-" ? `, and ${next} is an option: write --${name}=${next} if it is the value` : "";
      tokens.problems.push({ index, message: `--${name} needs a value (${spec.value})${hint}` });
      continue;
    }
    tokens.options.push({ name, value, index });
  }
  return tokens;
}

/**
 * Checks tokens against one command: every option must be one it takes, given once, with a good
 * value, and the positionals after the command's name must be exactly its arguments. Throws the
 * first problem in argv order.
 */
export function parseFor(command: CommandShape, tokens: Tokens, skip: number): ParsedArgs {
  const takes = new Map(command.options.map((option) => [option.name, option]));
  const problems = [...tokens.problems];
  const options = new Map<string, string | true>();
  for (const { name, value, index } of tokens.options) {
    const spec = takes.get(name);
    if (!spec) problems.push({ index, message: `${command.name} does not take --${name}` });
    else if (options.has(name)) problems.push({ index, message: `--${name} is given more than once` });
    else {
      const problem = typeof value === "string" ? spec.check?.(value) : undefined;
      if (problem) problems.push({ index, message: `--${name}: ${problem}` });
      options.set(name, value);
    }
  }
  const first = problems.sort((a, b) => a.index - b.index)[0];
  if (first) throw new UsageError(first.message, command.name);
  const positionals = tokens.positionals.slice(skip);
  const wanted = command.arguments;
  if (positionals.length < wanted.length) {
    const missing = wanted.slice(positionals.length).map((argument) => argument.name);
    throw new UsageError(`${command.name} needs ${missing.join(" and ")}`, command.name);
  }
  if (positionals.length > wanted.length) {
    const takesWhat = wanted.length === 0 ? "no arguments" : `only ${wanted.map((argument) => argument.name).join(" ")}`;
    throw new UsageError(`${command.name} takes ${takesWhat}; unexpected '${positionals[wanted.length]}'`, command.name);
  }
  return { positionals, options };
}

/** " (did you mean --exit-code?)" when one candidate is a likely typo of `word`, else "". */
export function suggestion(word: string, candidates: Iterable<string>, prefix = ""): string {
  let best: string | undefined;
  let bestDistance = Math.min(3, Math.floor(word.length / 2) + 1);
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? "" : ` (did you mean ${prefix}${best}?)`;
}

/** Levenshtein distance, for typo suggestions among a few short names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
