/**
 * The gateway's log in the Worker tests: a sink that keeps lines in memory instead of printing
 * them, so a green run prints only the runner's summary. test/log-capture.setup.ts installs it for
 * every Worker test file; tests read what the gateway logged from here, never from the console.
 */
import { type LogLine, setLogSink } from "../src/lib/log.ts";

const captured: LogLine[] = [];

/** Routes the gateway's log into memory. Each line is kept as it would be printed (a JSON round trip). */
export function installLogCapture(): void {
  setLogSink(function capture(line) {
    captured.push(JSON.parse(JSON.stringify(line)) as LogLine);
  });
}

/** The lines logged since the current test began. */
export function loggedLines(): readonly LogLine[] {
  return captured;
}

/** Forgets what was logged: called before each test. */
export function clearLoggedLines(): void {
  captured.length = 0;
}

/** The lines of `event` logged while `work` ran. */
export async function linesDuring(event: string, work: () => Promise<unknown>): Promise<LogLine[]> {
  const from = captured.length;
  await work();
  return captured.slice(from).filter((line) => line.event === event);
}
