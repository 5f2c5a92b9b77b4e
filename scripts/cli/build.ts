/**
 * Bundles the CLI into one plain ESM file, dist/cli/edgegate.mjs, for the installed package:
 * Node strips TypeScript types from no file under node_modules, so an installed edgegate cannot run
 * scripts/edgegate.ts as a checkout does. `npm run build:cli`; `prepare` runs it, so `npm pack`
 * (and an install from git) builds it before packing. bin/edgegate.mjs chooses which to run.
 */
import { statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "../..");

/** Where the package expects the bundle (package.json's "files", bin/edgegate.mjs). */
export const CLI_BUNDLE = resolve(ROOT, "dist/cli/edgegate.mjs");

/** Writes the bundle to `outfile`. */
export async function buildCli(outfile = CLI_BUNDLE): Promise<void> {
  await build({
    entryPoints: [resolve(ROOT, "scripts/edgegate.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    // The oldest Node the bundle is for (docs/operations.md); it uses nothing newer.
    target: "node20",
    // Dependencies written as CommonJS (yaml) require Node's built-ins: an ES module has no `require` of its own.
    banner: {
      js: [
        "// The edgegate CLI, bundled from scripts/edgegate.ts by scripts/cli/build.ts: do not edit.",
        'import { createRequire as __edgegateCreateRequire } from "node:module";',
        "const require = __edgegateCreateRequire(import.meta.url);",
      ].join("\n"),
    },
    legalComments: "inline",
    logLevel: "warning",
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildCli();
  console.log(`${relative(ROOT, CLI_BUNDLE)}: ${Math.round(statSync(CLI_BUNDLE).size / 1024)} KiB`);
}
