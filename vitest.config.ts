import { randomUUID } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { mtlsDouble } from "./test/harness/mtls-double.ts";
import { closedPort } from "./test/harness/origin.ts";
import { divertWorkerdDiagnostics, runtimeLogPath } from "./test/harness/runtime-log.ts";
import { SummaryReporter } from "./test/harness/summary-reporter.ts";
import { testPolicies } from "./test/harness/test-policies.ts";

// The Worker's bindings are fixed when the config loads, before the global setup runs: the local
// Upstash endpoint's port and token are chosen here, and the global setup starts it on them.
const upstashPort = await closedPort();
const upstashToken = `test-${randomUUID()}`;
process.env.EDGEGATE_TEST_UPSTASH_PORT = String(upstashPort);
process.env.EDGEGATE_TEST_UPSTASH_TOKEN = upstashToken;

// workerd's own output goes to one file per run (named here, before any worker or global setup
// starts, so they all inherit it), not to the terminal: the summary reporter shows the lines of a
// failed test. The Workers pool prints workerd's --verbose diagnostics from this process, so they
// are diverted here.
runtimeLogPath();
divertWorkerdDiagnostics("workers");

export default defineConfig({
  test: {
    // "minimal": failures in full (with their console output) and the totals, nothing per passing
    // file or test; the summary reporter adds workerd's lines of each failed test and the count line.
    reporters: ["minimal", new SummaryReporter()],
    projects: [
      {
        // The Worker and its tests inside workerd, against real local origins, KV and Durable Objects.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.jsonc" },
            miniflare: {
              bindings: {
                // Tests route to origins on 127.0.0.1 and must see config changes at once.
                ALLOW_PRIVATE_UPSTREAMS: "true",
                CONFIG_REFRESH_INTERVAL_MS: "0",
                UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${upstashPort}`,
                UPSTASH_REDIS_REST_TOKEN: upstashToken,
                ADMIN_TOKEN: "test-admin-token",
                // A secret a set-headers policy sends to the origin: the tests check it arrives
                // there, and nowhere else (test/integration/policies.headers.test.ts).
                ORIGIN_SHARED_SECRET: "test-origin-secret-5f0c2e9a7d",
              },
              // mTLS certificate bindings exist only on Cloudflare: these stand in for two, under the
              // names the tests' configs give (test/harness/mtls-double.ts), and count what they carry.
              serviceBindings: {
                ORIGIN_MTLS: mtlsDouble("ORIGIN_MTLS"),
                MIRROR_MTLS: mtlsDouble("MIRROR_MTLS"),
              },
            },
          }),
          // The Worker under test also bundles test/policies/ (user policies that misbehave on purpose).
          testPolicies(),
        ],
        test: {
          name: "workers",
          globalSetup: ["./test/global-setup.ts"],
          // The gateway's log goes to memory: tests read it there, and a green run prints none of it.
          setupFiles: ["./test/log-capture.setup.ts"],
          include: ["src/**/*.test.ts", "policies/**/*.test.ts", "test/integration/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        // The scripts' own logic in Node (the dev stack's and the benchmarks' helpers): no servers.
        test: {
          name: "scripts",
          environment: "node",
          include: ["scripts/**/*.test.ts"],
        },
      },
      {
        // From the outside, as an operator would: the deploy bundle served by workerd on a port,
        // driven by the CLI and by a real browser.
        test: {
          name: "e2e",
          environment: "node",
          globalSetup: ["./test/e2e/global-setup.ts"],
          include: ["test/e2e/**/*.test.ts"],
          // One gateway serves every file, and each publishes configs: one file at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
