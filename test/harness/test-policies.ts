/**
 * The Worker under test bundles the test-only user policies of test/policies/ besides the
 * deployment's: this Vite plugin resolves the gateway's imports of the generated registry
 * (src/policies/registry.ts) to test/policies/registry.ts, which extends it. The gateway's code is
 * unchanged, and the deploy bundle (wrangler's, not Vite's) never sees the test modules.
 */
import { resolve } from "node:path";
import type { Plugin } from "vitest/config";

const ROOT = resolve(import.meta.dirname, "../..");
const DEPLOYED = resolve(ROOT, "src/policies/registry.ts");
const WITH_TEST_POLICIES = resolve(ROOT, "test/policies/registry.ts");

/** The plugin for the Worker tests' project. */
export function testPolicies(): Plugin {
  return {
    name: "edgegate:test-policies",
    enforce: "pre",
    async resolveId(source, importer, options) {
      // The test registry imports the deployment's own, which it extends.
      if (!source.endsWith("/policies/registry.ts") || importer === WITH_TEST_POLICIES) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved?.id === DEPLOYED ? WITH_TEST_POLICIES : null;
    },
  };
}
