/**
 * The user policy modules of a checkout: which files of policies/ are modules a config may name.
 * The registry generator (scripts/policies.ts) bundles exactly these, and `edgegate validate`
 * checks a config's module names against them, so both agree on what "the deployment has" means.
 */
import { readdirSync } from "node:fs";
import { NAME, NAME_RULE } from "../../src/lib/config/fields.ts";

/** One policy module: the name a config's `module` gives, and its file in the policies directory. */
export interface PolicyFile {
  name: string;
  file: string;
}

/** A file of policies/ whose name a config could not give: the file is not bundled, and says why. */
export class PolicyFileNameError extends Error {
  readonly files: readonly string[];

  constructor(files: readonly string[]) {
    super(
      [
        `${files.length === 1 ? "a file" : "files"} of policies/ whose name a config's "module" cannot give:`,
        ...files.map((file) => `  policies/${file}: the name before .ts ${NAME_RULE}`),
        "Rename it, or start its name with _ for a helper that is not a policy of its own.",
      ].join("\n"),
    );
    this.name = "PolicyFileNameError";
    this.files = files;
  }
}

/**
 * Whether a file of policies/ is a module of its own: a TypeScript file, and not a helper (`_` first),
 * a test or a declaration file. Folders are not read: shared code may live in one.
 */
function isModuleFile(file: string): boolean {
  return file.endsWith(".ts") && !file.startsWith("_") && !file.endsWith(".test.ts") && !file.endsWith(".d.ts");
}

/**
 * The files of `dir`: the policy modules, sorted by name (by UTF-16 code unit, so the order is the
 * same on every machine), and the files that would be modules but for a name a config cannot give.
 * A missing directory has none.
 */
export function listPolicyFiles(dir: string): { modules: PolicyFile[]; misnamed: string[] } {
  let entries: Array<{ name: string; isFile(): boolean }>;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { modules: [], misnamed: [] };
    throw error;
  }
  const files = entries.filter((entry) => entry.isFile() && isModuleFile(entry.name)).map((entry) => entry.name);
  const named = (file: string) => NAME.test(file.slice(0, -".ts".length));
  return {
    modules: files
      .filter(named)
      .map((file) => ({ name: file.slice(0, -".ts".length), file }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    misnamed: files.filter((file) => !named(file)).sort(),
  };
}

/** The policy modules in `dir`, as listPolicyFiles sorts them; a misnamed file is an error (PolicyFileNameError names each). */
export function policyFiles(dir: string): PolicyFile[] {
  const { modules, misnamed } = listPolicyFiles(dir);
  if (misnamed.length > 0) throw new PolicyFileNameError(misnamed);
  return modules;
}
