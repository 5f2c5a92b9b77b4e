/** What a command is: its shape (arguments, options), its help, and what it does. */
import type { CommandShape, ParsedArgs } from "./args.ts";
import type { Output } from "./output.ts";

/** What a running command may use: its arguments, where to write, the environment and standard input. */
export interface CommandContext {
  readonly args: ParsedArgs;
  readonly output: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  readStdin(): Promise<Uint8Array>;
}

export interface CommandSpec extends CommandShape {
  /** One line for the list of commands. */
  readonly summary: string;
  /** The synopsis after "edgegate ", when it says more than the name, the arguments and "[options]". */
  readonly usage?: string;
  /** Paragraphs after the synopsis. */
  readonly details: readonly string[];
  /** Command lines with a comment each. */
  readonly examples: ReadonlyArray<readonly [string, string]>;
  /** The exit codes this command can end with, and what each means for it. */
  readonly exitCodes: ReadonlyArray<readonly [number, string]>;
  /** A problem with how the options combine (exit 2), or undefined. */
  readonly combination?: (args: ParsedArgs) => string | undefined;
  run(context: CommandContext): Promise<number>;
}
