/**
 * `npm run map-stack [-- <map>]`: reads a stack trace on standard input, as the deployed gateway
 * logged it (the `stack` of a gateway.unhandled or config.compile_failed event; `\n` escapes copied
 * from the JSON line are fine), and prints it with each frame of the minified bundle mapped back to
 * the TypeScript source. The map is dist/index.js.map unless named: run `npm run bundle` on the
 * deployed commit first (the same source and lockfile build the same bundle and map).
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { mapStack, readBundleMap } from "./lib/source-map-stack.ts";

const mapPath = resolve(process.argv[2] ?? resolve(import.meta.dirname, "../dist/index.js.map"));
if (!existsSync(mapPath)) {
  console.error(`map-stack: no source map at ${mapPath}; run \`npm run bundle\` on the deployed commit first`);
  process.exit(2);
}
const stack = readFileSync(0, "utf8").replaceAll("\\n", "\n");
process.stdout.write(mapStack(stack, readBundleMap(mapPath)));
