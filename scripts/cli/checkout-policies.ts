/**
 * The user policy modules a config may name, as far as the CLI can know them offline: in a checkout
 * of the gateway (a wrangler config and a policies/ directory in the current directory), the files
 * of policies/, which the next deploy bundles. Elsewhere they are unknown, and only the gateway
 * checks a config's module names, when the config is published to it.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { GatewayConfig } from "../../src/config/schema.ts";
import type { ConfigIssue } from "../../src/lib/config/fields.ts";
import { customModuleIssues } from "../../src/lib/policies/config.ts";
import { listPolicyFiles } from "../lib/policy-files.ts";

const WRANGLER_CONFIGS = ["wrangler.jsonc", "wrangler.json", "wrangler.toml"];

/** The module names policies/ of the checkout in `dir` holds; null when `dir` is no checkout of the gateway. */
export function checkoutPolicyModules(dir: string = process.cwd()): ReadonlySet<string> | null {
  const policies = join(dir, "policies");
  if (!existsSync(policies) || !statSync(policies).isDirectory()) return null;
  if (!WRANGLER_CONFIGS.some((file) => existsSync(join(dir, file)))) return null;
  // A misnamed file is no module a config can name (the name rule is the config's): it is left out.
  return new Set(listPolicyFiles(policies).modules.map((module) => module.name));
}

/** The config's user modules that the checkout in `dir` lacks; none when `dir` is no checkout. */
export function checkoutPolicyIssues(config: GatewayConfig, dir?: string): ConfigIssue[] {
  const modules = checkoutPolicyModules(dir);
  if (modules === null) return [];
  const issues: ConfigIssue[] = [];
  customModuleIssues(config.policies, modules, issues);
  return issues;
}
