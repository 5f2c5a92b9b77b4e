/**
 * Starts the gateway as it is deployed: the bundle `wrangler deploy --dry-run` builds, served by
 * workerd (through Miniflare) on a free loopback port, with its KV namespace and Durable Objects,
 * an admin token and the production validation rules (no private upstreams). The Debian packages
 * the e2e tests run (Chromium, redis-server) are installed first when missing.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import type { TestProject } from "vitest/node";
import { freePort } from "../../scripts/lib/free-port.ts";
import { gatewayWorkerOptions } from "../../scripts/lib/gateway-worker.ts";
import { recordStructuredLogs } from "../harness/runtime-log.ts";
import { ensureTestRunPackages } from "../harness/system-packages.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const WORK = resolve(ROOT, ".e2e");

export default async function setup(project: TestProject) {
  // Chromium for the status page, redis-server for the local Upstash: before anything starts.
  await ensureTestRunPackages(project);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", resolve(WORK, "gateway")], { cwd: ROOT, stdio: "ignore" });
  const port = await freePort();
  const token = `e2e-${crypto.randomUUID()}`;
  // workerd's output (the gateway's log, the runtime's own lines) goes to the run's file, not the
  // terminal (test/harness/runtime-log.ts): a failed test shows the lines of its own time.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      handleStructuredLogs: recordStructuredLogs("e2e"),
      workers: [
        gatewayWorkerOptions(resolve(WORK, "gateway"), port, {
          ADMIN_TOKEN: token,
          ALLOW_PRIVATE_UPSTREAMS: "false",
          CONFIG_REFRESH_INTERVAL_MS: "0",
        }),
      ],
    }),
  );
  // Vitest runs no teardown for a setup that threw: a runtime left running would keep it from exiting.
  await mf.ready.catch(async (error: unknown) => {
    await mf.dispose();
    throw error;
  });
  project.provide("e2eGatewayUrl", `http://127.0.0.1:${port}`);
  project.provide("e2eAdminToken", token);
  return async () => {
    await mf.dispose();
  };
}
