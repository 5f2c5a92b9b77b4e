/**
 * The user policy modules of the Worker under test: the deployment's own (src/policies/registry.ts,
 * generated from policies/) and this folder's test-only ones, which no deployment bundles.
 * vitest.config.ts has the Worker under test import this file where the gateway imports the
 * deployment's registry (test/harness/test-policies.ts).
 */
import type { PolicyModule } from "../../src/lib/policies/contract.ts";
import type { CustomPolicyModules } from "../../src/lib/policies/custom.ts";
import { customPolicyModules as deployed } from "../../src/policies/registry.ts";
import * as misbehaving from "./misbehaving.ts";
import * as misshapen from "./misshapen.ts";

export const customPolicyModules: CustomPolicyModules = new Map<string, PolicyModule>([
  ...deployed,
  ["test-misbehaving", misbehaving],
  // The typecheck refuses a module that shares no export with the contract, as it should for policies/:
  // this one is shapeless on purpose, to show what the gateway makes of such a module.
  ["test-misshapen", misshapen as unknown as PolicyModule],
]);
