/**
 * `npm start`'s config file: read and validated the same way for the first publish and for every
 * save after it, and a watch that republishes the file on save. A save is acted on once the writes
 * have settled for a moment (editors write a file in several steps, and saving twice quickly is one
 * change); a refused save prints its problems in one block and the gateway keeps serving what it
 * had.
 */
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { parseConfig } from "../../src/config/schema.ts";
import type { ConfigIssue, ConfigValidationOptions } from "../../src/lib/config/fields.ts";
import { CliError } from "../cli/errors.ts";
import { readConfigDocument } from "../cli/input.ts";

/** How long the file must stay unwritten before a save is acted on. */
export const SAVE_SETTLE_MS = 200;

export type LoadedConfig = { ok: true; document: unknown } | { ok: false; report: string };

/** The lines of a refused config, as the CLI prints them: a count, then each problem with its field path. */
function issuesReport(file: string, issues: readonly ConfigIssue[]): string {
  const lines = [`${file}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`];
  for (const issue of issues) lines.push(`  ${issue.path}: ${issue.message}`);
  return lines.join("\n");
}

/**
 * Reads the config file (JSON or YAML, as the CLI reads it) and validates it with the gateway's
 * schema; what is wrong comes back as one report.
 */
export async function loadConfigFile(file: string, validation: ConfigValidationOptions): Promise<LoadedConfig> {
  let document: unknown;
  try {
    ({ document } = await readConfigDocument(file, () => Promise.reject(new Error("no standard input here"))));
  } catch (error) {
    if (error instanceof CliError) return { ok: false, report: error.message };
    throw error;
  }
  const parsed = parseConfig(document, validation);
  return parsed.ok ? { ok: true, document } : { ok: false, report: issuesReport(file, parsed.issues) };
}

/** What publishing a save through the gateway's admin API came to. */
export type PublishAnswer = { ok: true; version: string } | { ok: false; issues: ConfigIssue[] } | { ok: false; problem: string };

export interface RepublishOptions {
  file: string;
  validation: ConfigValidationOptions;
  /** The document as published at start, so saving it unchanged publishes nothing. */
  published: { version: string; document: unknown };
  publish(document: unknown): Promise<PublishAnswer>;
  /** Prints one block: a refused save's problems, or the version a save became. */
  print(block: string): void;
}

/** What a save does: validate the file, and publish it if it is valid and differs from what was last published. */
export function configRepublisher(options: RepublishOptions): () => Promise<void> {
  const { file } = options;
  let current = options.published.version;
  let lastPublished = JSON.stringify(options.published.document);
  return async function republishConfig() {
    const loaded = await loadConfigFile(file, options.validation);
    if (!loaded.ok) {
      options.print(`${loaded.report}\n${file}: not published; the gateway keeps serving ${current}`);
      return;
    }
    const text = JSON.stringify(loaded.document);
    if (text === lastPublished) return;
    const answer = await options.publish(loaded.document);
    if (answer.ok) {
      options.print(`published ${file} as version ${answer.version} (was ${current}); the gateway serves it from its next request`);
      current = answer.version;
      lastPublished = text;
    } else if ("issues" in answer) {
      options.print(`${issuesReport(file, answer.issues)}\n${file}: refused by the gateway; it keeps serving ${current}`);
    } else {
      options.print(`${file}: not published: ${answer.problem}; the gateway keeps serving ${current}`);
    }
  };
}

export interface ConfigWatch {
  close(): void;
}

/**
 * Runs `onSave` once `file` has not been written for `settleMs`; a save while it runs makes one
 * more run after it, never two at once. The directory is watched rather than the file, so a save
 * that renames a new file over the old one (as many editors do) is seen too.
 */
export function watchConfigFile(file: string, onSave: () => Promise<void>, settleMs: number = SAVE_SETTLE_MS): ConfigWatch {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let closed = false;
  const run = () => {
    timer = undefined;
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    // onSave reports its own outcomes; a throw here would be a bug in it, printed as such.
    onSave()
      .catch((error: unknown) => console.error(`${file}: republishing failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const watcher: FSWatcher = watch(dirname(file), (_event, changed) => {
    // Some platforms do not name the file: then any change in the directory counts.
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(run, settleMs);
  });
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
