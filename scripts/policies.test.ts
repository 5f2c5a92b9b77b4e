/**
 * The registry of user policy modules: the committed one is what the generator writes from
 * policies/ (so `npm test` fails on a stale one), which files are modules and under what names,
 * the generated text (deterministic, one static import each, in Biome's format), wrangler running
 * the generator before every bundle, and `edgegate validate` checking module names in a checkout.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { checkoutPolicyModules } from "./cli/checkout-policies.ts";
import { listPolicyFiles, PolicyFileNameError, policyFiles } from "./lib/policy-files.ts";
import { POLICIES_DIR, REGISTRY_FILE, registryIsCurrent, registrySource, renderRegistry } from "./policies.ts";

const ROOT = resolve(import.meta.dirname, "..");

function run(script: string, args: readonly string[], cwd = ROOT) {
  return spawnSync(process.execPath, [resolve(ROOT, script), ...args], { cwd, encoding: "utf8", timeout: 60_000 });
}

function tempDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-policies-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(resolve(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe("the committed registry", () => {
  it("is exactly what npm run policies writes from policies/", () => {
    expect(readFileSync(REGISTRY_FILE, "utf8")).toBe(renderRegistry());
  });

  it("passes npm run policies -- --check, which fails on a file that differs", () => {
    const check = run("scripts/policies.ts", ["--check"]);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/up to date: \d+ polic(y|ies)/);
    const stale = join(tempDir(), "registry.ts");
    writeFileSync(stale, readFileSync(REGISTRY_FILE, "utf8").replace(/\n {2}\["[^"]+", \w+\],/, ""));
    expect(registryIsCurrent(stale)).toBe(false);
    expect(registryIsCurrent(join(tmpdir(), "no-such-dir", "registry.ts"))).toBe(false);
    expect(registryIsCurrent()).toBe(true);
  });

  it("bundles the example policies, each by its file name", () => {
    const text = readFileSync(REGISTRY_FILE, "utf8");
    const names = policyFiles(POLICIES_DIR).map((module) => module.name);
    expect(names).toEqual(expect.arrayContaining(["redact-fields", "tenant-header"]));
    for (const name of names) {
      expect(text).toContain(`from "../../policies/${name}.ts";`);
      expect(text).toMatch(new RegExp(`\\["${name}", policy\\w+\\]`));
    }
    // Helpers and tests of policies/ are not modules.
    expect(text).not.toContain("_testing");
    expect(text).not.toContain(".test.ts");
  });
});

describe("which files of policies/ are modules", () => {
  it("every top-level .ts file but helpers (_*), tests and declarations, sorted by name whatever the directory's order", () => {
    const dir = tempDir({
      "zeta.ts": "",
      "Alpha.ts": "",
      "a.b_c-d.ts": "",
      "_shared.ts": "",
      "zeta.test.ts": "",
      "types.d.ts": "",
      "notes.md": "",
      "lib/inner.ts": "",
      "9lives.ts": "",
    });
    expect(policyFiles(dir)).toEqual([
      { name: "9lives", file: "9lives.ts" },
      { name: "Alpha", file: "Alpha.ts" },
      { name: "a.b_c-d", file: "a.b_c-d.ts" },
      { name: "zeta", file: "zeta.ts" },
    ]);
    expect(policyFiles(join(dir, "missing"))).toEqual([]);
  });

  it("a name a config cannot give is an error naming every such file and the rule", () => {
    const dir = tempDir({ "good.ts": "", "my policy.ts": "", "-dash.ts": "", "é.ts": "", [`${"x".repeat(65)}.ts`]: "" });
    expect(() => policyFiles(dir)).toThrow(PolicyFileNameError);
    try {
      policyFiles(dir);
    } catch (error) {
      expect((error as PolicyFileNameError).files).toEqual(["-dash.ts", "my policy.ts", `${"x".repeat(65)}.ts`, "é.ts"]);
      expect((error as Error).message).toContain("policies/my policy.ts: the name before .ts must be 1-64 letters");
      expect((error as Error).message).toContain("start its name with _");
    }
    expect(listPolicyFiles(dir).modules).toEqual([{ name: "good", file: "good.ts" }]);
  });
});

describe("the generated text", () => {
  const modules = [
    { name: "a-b", file: "a-b.ts" },
    { name: "a_b", file: "a_b.ts" },
    { name: "3d", file: "3d.ts" },
  ];

  it("imports each module statically under a binding of its own, keyed by its name", () => {
    const source = registrySource(modules);
    expect(source).toContain('import * as policyAB from "../../policies/a-b.ts";');
    expect(source).toContain('import * as policyAB2 from "../../policies/a_b.ts";');
    expect(source).toContain('import * as policy3d from "../../policies/3d.ts";');
    expect(source).toContain('["a-b", policyAB], ["a_b", policyAB2], ["3d", policy3d]');
  });

  it("is the same every time, in Biome's format: lint clean as it is", () => {
    const biome = (args: string[], input?: string) =>
      spawnSync(resolve(ROOT, "node_modules/.bin/biome"), args, { cwd: ROOT, encoding: "utf8", ...(input !== undefined && { input }) });
    const text = renderRegistry(modules);
    expect(renderRegistry(modules)).toBe(text);
    expect(text).toContain('  ["a-b", policyAB],\n');
    // Biome's fixes (format, import order) change nothing more, and the committed file passes its lint.
    expect(biome(["check", "--write", `--stdin-file-path=${REGISTRY_FILE}`], text).stdout).toBe(text);
    const lint = biome(["check", REGISTRY_FILE]);
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    expect(renderRegistry([])).toContain("new Map<string, PolicyModule>([])");
  });
});

describe("wrangler runs the generator before every bundle", () => {
  it.each([undefined, "staging", "production"])("in the %s environment, watching policies/ in dev", (env) => {
    const config = unstable_readConfig({ config: resolve(ROOT, "wrangler.jsonc"), ...(env && { env }) }, { hideWarnings: true });
    expect(config.build.command).toBe("npm run --silent policies");
    expect(config.build.watch_dir).toBe("policies");
    expect(JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")).scripts.policies).toBe("node scripts/policies.ts");
  });
});

describe("edgegate validate checks module names against a checkout's policies/", () => {
  const configWith = (module: string) =>
    JSON.stringify({
      clusters: { c: { targets: [{ url: "https://api.example.com" }] } },
      policies: { p: { use: "custom", module } },
      routes: [{ id: "r", match: { path: "/*" }, cluster: "c", policies: { inbound: ["p"] } }],
    });

  it("in the gateway's checkout: a module policies/ lacks is refused with its field path; one it has is valid", () => {
    const dir = tempDir({ "missing.json": configWith("audit-log"), "present.json": configWith("tenant-header") });
    const refused = run("scripts/edgegate.ts", ["validate", join(dir, "missing.json")]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(
      "policies.p.module: names the policy module 'audit-log', which this deployment does not bundle (policies/audit-log.ts)",
    );
    const valid = run("scripts/edgegate.ts", ["validate", join(dir, "present.json")]);
    expect(valid.status, valid.stderr).toBe(0);
  });

  it("elsewhere the names are not known, and left to the gateway", () => {
    const dir = tempDir({ "missing.json": configWith("audit-log") });
    const valid = run("scripts/edgegate.ts", ["validate", "missing.json"], dir);
    expect(valid.status, valid.stderr).toBe(0);
    expect(checkoutPolicyModules(dir)).toBeNull();
    // A policies/ folder alone is no checkout of the gateway: a wrangler config beside it is.
    expect(checkoutPolicyModules(tempDir({ "policies/x.ts": "" }))).toBeNull();
    expect(checkoutPolicyModules(tempDir({ "policies/x.ts": "", "policies/_y.ts": "", "wrangler.toml": "" }))).toEqual(new Set(["x"]));
    expect(checkoutPolicyModules(ROOT)).toEqual(new Set(policyFiles(POLICIES_DIR).map((module) => module.name)));
  });
});
