import type { Bindings } from "../src/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {}
  }
}

declare module "vitest" {
  interface ProvidedContext {
    originPort: number;
    closedPort: number;
  }
}
