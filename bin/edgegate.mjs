#!/usr/bin/env node
// The `edgegate` command. The CLI is TypeScript run by Node's type stripping (Node >= 22.18): on an
// older Node this starts the project's own Node 22 (the `node` dev dependency) when it is there.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [major, minor] = process.versions.node.split(".").map(Number);
const ownNode = resolve(root, "node_modules/node/bin/node");
const node = major > 22 || (major === 22 && minor >= 18) || !existsSync(ownNode) ? process.execPath : ownNode;
const result = spawnSync(node, [resolve(root, "scripts/edgegate.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(result.status ?? 3);
