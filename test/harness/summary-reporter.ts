import { existsSync } from "node:fs";
import type { Reporter, SerializedError, TestCase, TestModule } from "vitest/node";
import { runtimeLogPath, runtimeOutputBetween } from "./runtime-log.ts";

/** workerd's lines arrive through a pipe, a little after the moment they describe. */
const ARRIVAL_SLACK_MS = 100;
/** Enough lines to show what workerd saw, few enough not to bury the failure above them. */
const MAX_LINES_PER_TEST = 60;

/** workerd's own output (test/harness/runtime-log.ts) while a failed test ran. */
function printRuntimeOutput(test: TestCase): void {
  const { startTime, duration } = test.diagnostic() ?? {};
  if (startTime === undefined || duration === undefined) return;
  const lines = runtimeOutputBetween(startTime, startTime + duration + ARRIVAL_SLACK_MS);
  if (lines.length === 0) return;
  // Files run side by side in one workerd: a line here may belong to another file's test.
  console.log(`\nworkerd while "${test.fullName}" ran (${test.module.relativeModuleId}; other files running then may add lines):`);
  for (const line of lines.slice(-MAX_LINES_PER_TEST)) console.log(`  ${line}`);
  if (lines.length > MAX_LINES_PER_TEST) console.log(`  (the last ${MAX_LINES_PER_TEST} of ${lines.length} lines)`);
}

/**
 * Ends a run with one plain line, "N passed, N failed, N skipped", that any CI log reader can parse.
 * When something failed, it first prints what workerd logged while each failed test ran, and where
 * all of workerd's output of the run is: a green run prints none of it.
 */
export class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const failed: TestCase[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") counts.passed++;
        else if (state === "failed") {
          counts.failed++;
          failed.push(test);
        } else counts.skipped++;
      }
    }
    const anyFailure = failed.length > 0 || unhandledErrors.length > 0 || testModules.some((module) => module.state() === "failed");
    if (anyFailure) {
      for (const test of failed) printRuntimeOutput(test);
      const path = runtimeLogPath();
      if (existsSync(path)) console.log(`\nAll of workerd's output in this run: ${path}`);
    }
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  }
}
