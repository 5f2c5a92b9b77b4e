/** edgegate's version: the package's. */
import { readFileSync } from "node:fs";

/**
 * Read from package.json at run time. It is two folders up both from this file (scripts/cli/) and
 * from the bundle that carries it in the installed package (dist/cli/edgegate.mjs).
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    name?: unknown;
    version?: unknown;
  };
  if (manifest.name !== "edgegate" || typeof manifest.version !== "string") throw new Error("package.json is not edgegate's");
  return manifest.version;
}
