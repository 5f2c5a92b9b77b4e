import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { SummaryReporter } from "./test/harness/summary-reporter.ts";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          // Tests route to origins on 127.0.0.1 and must see config changes at once.
          ALLOW_PRIVATE_UPSTREAMS: "true",
          CONFIG_REFRESH_INTERVAL_MS: "0",
        },
      },
    }),
  ],
  test: {
    globalSetup: ["./test/global-setup.ts"],
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    reporters: ["default", new SummaryReporter()],
  },
});
