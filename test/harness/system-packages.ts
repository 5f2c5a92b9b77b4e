/**
 * The Debian packages a test run needs, installed before any global setup starts a server
 * (scripts/lib/system-packages.ts: as root, or one line with the command). Every global setup asks
 * for the needs of all the projects in the run, so that the first installs them in one apt-get run,
 * or names all of them at once, and the later ones find them there.
 */
import type { TestProject } from "vitest/node";
import { ensureSystemPackagesOrExit, type SystemNeed } from "../../scripts/lib/system-packages.ts";

const REDIS: SystemNeed = { tool: "redis-server", why: "the Upstash rate-limit tests run against a real Redis" };

/** What each project's tests run, by project name (vitest.config.ts). */
const NEEDS_BY_PROJECT: Record<string, SystemNeed[]> = {
  workers: [REDIS],
  e2e: [
    REDIS,
    { tool: "chromium", why: "the status page is tested in a real browser" },
    { tool: "prometheus", why: "a real Prometheus scrapes the fleet metrics and loads the alert rules" },
    { tool: "wrk", why: "the load the Prometheus test compares its rate and p99 with" },
  ],
};

/**
 * Installs what the run's projects need; when that cannot be done, ends the run with exit code 1
 * and one line saying what to do (Vitest would report an error thrown by a global setup under "No
 * test files found", with its stack). The first setup runs it before anything is started.
 */
export async function ensureTestRunPackages(project: TestProject): Promise<void> {
  const names = new Set([project.name, ...project.vitest.projects.map((each) => each.name)]);
  await ensureSystemPackagesOrExit([...names].flatMap((name) => NEEDS_BY_PROJECT[name] ?? []));
}
