/**
 * The gateway's one logger: every line is one JSON object with a `level` and an `event`, written
 * through the console method of that level (Workers Logs and `wrangler tail` file it by method).
 * Where lines go is a replaceable sink, so tests capture them instead of printing them.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

/** One structured log line: `level` and `event` first, then the event's own fields. */
export interface LogLine {
  level: LogLevel;
  event: string;
  [field: string]: unknown;
}

/** Receives every line the gateway logs; it must not throw. */
export type LogSink = (line: LogLine) => void;

/** The default sink: one JSON line per event, through the console method matching its level. */
export const consoleSink: LogSink = function consoleSink(line) {
  const text = JSON.stringify(line);
  switch (line.level) {
    case "debug":
      console.debug(text);
      break;
    case "info":
      console.info(text);
      break;
    case "warn":
      console.warn(text);
      break;
    default:
      console.error(text);
  }
};

/**
 * Module scope is deliberate: an isolate has one log, and the sink is replaced only by tests,
 * before the requests they make; requests read it and never write it.
 */
let sink: LogSink = consoleSink;

/**
 * Writes one line. Callers build the line only when it will be written (a sampled access log, a
 * throttled warning): this function adds no allocation of its own.
 */
export function log(line: LogLine): void {
  sink(line);
}

/** A thrown value as a log field: name, message and stack of an Error, the string of anything else. */
export function errorFields(error: unknown): { name: string; message: string; stack: string | undefined } | string {
  return error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error);
}

/** Sends lines to `next` from now on and returns the sink it replaces, so it can be put back. */
export function setLogSink(next: LogSink): LogSink {
  const previous = sink;
  sink = next;
  return previous;
}
