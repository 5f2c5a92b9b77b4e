/**
 * The CLI's exit codes and the errors that carry them. Every failure the CLI expects is one of
 * these, printed as one line on stderr; anything else is a bug, reported as such (see main.ts).
 */

/** The documented exit codes (docs/operations.md, `edgegate --help`). */
export const EXIT = {
  ok: 0,
  /** The config is invalid, or `diff --exit-code` found changes. */
  invalid: 1,
  /** A usage error, or the config file cannot be read. */
  usage: 2,
  /** The gateway (or wrangler, for direct KV) could not be reached, refused the token, or failed; or a bug in the CLI. */
  gateway: 3,
  /** Conflict: the config changed since it was read. */
  conflict: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An expected failure: its message is printed as it is, after "edgegate: ". */
export class CliError extends Error {
  override readonly name: string = "CliError";
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** A mistake in the command line: exit 2, with a pointer to the help of the command it concerns. */
export class UsageError extends CliError {
  override readonly name = "UsageError";
  /** The command whose help to point at ("validate", "api-key create"), or null for the whole tool. */
  readonly command: string | null;

  constructor(message: string, command: string | null = null) {
    super(message, EXIT.usage);
    this.command = command;
  }
}

/** A config file or standard input that cannot be read as a document: exit 2, no help hint. */
export class InputError extends CliError {
  override readonly name = "InputError";

  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Any text on one line: runs of whitespace, newlines included, become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
