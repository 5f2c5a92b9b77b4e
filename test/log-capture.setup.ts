/**
 * Setup of every Worker test file: the gateway logs into memory (test/log-capture.ts), and a
 * failed test prints what was logged during it, since those lines are then the evidence.
 */
import { beforeEach } from "vitest";
import { clearLoggedLines, installLogCapture, loggedLines } from "./log-capture.ts";

installLogCapture();

beforeEach(({ onTestFailed }) => {
  clearLoggedLines();
  onTestFailed(() => {
    for (const line of loggedLines()) console.log(JSON.stringify(line));
  });
});
