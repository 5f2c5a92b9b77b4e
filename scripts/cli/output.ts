/** Where the CLI writes, and the listings of config problems and warnings that several commands print. */
import type { ConfigIssue } from "../../src/lib/config/fields.ts";

/** Lines to stdout (results) and stderr (problems, warnings, progress); tests hand in their own. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Every problem of a refused config, with its field path. */
export function printIssues(output: Output, what: string, issues: readonly ConfigIssue[]): void {
  output.err(`${what}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`);
  for (const issue of issues) output.err(`  ${issue.path}: ${issue.message}`);
}

/** Warnings do not refuse a config (the exit code stays 0); each names its field path. */
export function printWarnings(output: Output, what: string, warnings: readonly ConfigIssue[]): void {
  if (warnings.length === 0) return;
  output.err(`${what}: ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`);
  for (const warning of warnings) output.err(`  ${warning.path}: ${warning.message}`);
}
