#!/usr/bin/env node
// The `edgegate` command.
//
// Installed as a package (under node_modules), it runs dist/cli/edgegate.mjs: the CLI bundled into
// plain JavaScript when the package was packed (`npm run build:cli`, run by `prepare`), because
// Node strips TypeScript types from no file under node_modules. It needs Node.js 20 or later.
//
// In a checkout, it runs the TypeScript source, scripts/edgegate.ts, so that an edit takes effect
// at once: in this process when this Node strips types (22.18 and later do), otherwise on the
// project's own Node 22 (the `node` dev dependency), and the bundle when neither is there.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const source = resolve(root, "scripts/edgegate.ts");
const bundle = resolve(root, "dist/cli/edgegate.mjs");
const ownNode = resolve(root, "node_modules/node/bin/node");
const installed = root.split(sep).includes("node_modules") || !existsSync(source);

if (!installed && process.features.typescript) {
  await import(pathToFileURL(source).href);
} else if (!installed && existsSync(ownNode)) {
  const result = spawnSync(ownNode, [source, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exitCode = result.status ?? 3;
} else if (existsSync(bundle)) {
  await import(pathToFileURL(bundle).href);
} else {
  process.stderr.write("edgegate: the CLI is not built: run `npm run build:cli` in the package\n");
  process.exitCode = 3;
}
