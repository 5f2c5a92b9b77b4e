import type { Secrets } from "../src/env.ts";

// The tests' `env` (cloudflare:workers): the bindings `wrangler types` generated from wrangler.jsonc
// (worker-configuration.d.ts), plus the secrets vitest.config.ts sets for the test Worker.
declare global {
  namespace Cloudflare {
    interface Env extends Secrets {}
  }
}
