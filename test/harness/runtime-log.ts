/**
 * workerd's own output during a test run: the runtime's diagnostics and, from the workerd processes
 * the e2e tests start, the gateway's log. A green run prints none of it. It goes to one file per run
 * under the OS temp dir, each line stamped with the time it arrived, and the summary reporter
 * prints the lines that arrived while a failed test ran, and where the file is.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Set by the run's main process; its workers and global setups inherit it, so one run keeps one file. */
const PATH_VARIABLE = "EDGEGATE_TEST_RUNTIME_LOG";

/** This run's file, named by the first caller and written on the first line recorded. */
export function runtimeLogPath(): string {
  let path = process.env[PATH_VARIABLE];
  if (path === undefined) {
    path = join(tmpdir(), `edgegate-workerd-${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}.log`);
    process.env[PATH_VARIABLE] = path;
  }
  return path;
}

/** Appends `text` (one or more lines) from `source` (which workerd: a project or a test's own). */
export function recordRuntimeOutput(source: string, text: string): void {
  const stamp = `${new Date().toISOString()} ${source} `;
  const lines = text.replace(/\n$/, "").split("\n");
  appendFileSync(runtimeLogPath(), `${lines.map((line) => stamp + line).join("\n")}\n`);
}

/** A Miniflare `handleStructuredLogs` that records workerd's lines instead of printing them. */
export function recordStructuredLogs(source: string): (log: { level: string; message: string }) => void {
  return function record({ level, message }) {
    recordRuntimeOutput(source, `${level} ${message}`);
  };
}

const STAMP = /^(\S+) /;

/** The lines recorded from `fromMs` to `toMs` (ms since the epoch), oldest first. */
export function runtimeOutputBetween(fromMs: number, toMs: number): string[] {
  let text: string;
  try {
    text = readFileSync(runtimeLogPath(), "utf8");
  } catch {
    return []; // nothing was recorded
  }
  return text.split("\n").filter((line) => {
    const at = Date.parse(STAMP.exec(line)?.[1] ?? "");
    return at >= fromMs && at <= toMs;
  });
}

/**
 * What workerd prints on its own in the Workers project. With --verbose (the Workers pool's default,
 * kept because these lines say what a failed test's connections did) it logs every connection-level
 * event of a subrequest or a body, even one the Worker handles: a refused or reset upstream, a
 * request body the gateway stops reading, an upstream request or a response body it aborts. Its
 * "uncaught exception; source = Uncaught (in promise)" lines are about promises inside the runtime's
 * fetch(): they appear for `try { await fetch(url) } catch {}` too. A promise of the Worker's own
 * that nobody handles is reported by Vitest itself, as an unhandled error that fails the run.
 * Each message starts thus.
 */
const WORKERD_DIAGNOSTIC = /^(?:exception = |uncaught exception; )/;

type Write = (chunk: unknown, ...rest: unknown[]) => boolean;

/**
 * Records workerd's diagnostics instead of printing them. The Workers pool writes what workerd prints
 * straight to this process's stdout and stderr, one message per write, and has no option to send it
 * elsewhere: so the writes themselves are filtered, in the run's main process. Anything else passes.
 */
export function divertWorkerdDiagnostics(source: string): void {
  const installed = Symbol.for("edgegate.test.workerd-diagnostics-diverted");
  const state = globalThis as { [installed]?: boolean };
  if (state[installed]) return; // the config can be loaded more than once in one process
  state[installed] = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as Write;
    const divertOrWrite: Write = function divertOrWrite(chunk, ...rest) {
      if (typeof chunk !== "string" || !WORKERD_DIAGNOSTIC.test(chunk)) return write(chunk, ...rest);
      recordRuntimeOutput(source, chunk);
      const done = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
      if (done !== undefined) queueMicrotask(done);
      return true;
    };
    stream.write = divertOrWrite as typeof stream.write;
  }
}
