/**
 * Maps the frames of a stack trace from the minified deploy bundle back to the TypeScript source,
 * through the bundle's source map. Cloudflare does this for uncaught exceptions; a stack the gateway
 * logs itself (`error.stack` in gateway.unhandled, config.compile_failed) is a string it wrote, which
 * nobody remaps, so `npm run map-stack` does it here.
 */
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { basename, dirname, relative, resolve } from "node:path";

/** A bundle's source map, ready to look positions up in. */
export interface BundleMap {
  /** The bundle's file name as stack frames name it ("index.js"). */
  bundle: string;
  map: SourceMap;
  /** Where the map's relative source paths start from (the map file's directory). */
  sourceRoot: string;
}

/** Reads `<bundle>.map`; frames of `<bundle>` are mapped through it. */
export function readBundleMap(mapPath: string): BundleMap {
  const payload = JSON.parse(readFileSync(mapPath, "utf8"));
  return { bundle: basename(mapPath, ".map"), map: new SourceMap(payload), sourceRoot: dirname(resolve(mapPath)) };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * `stack` with every `<any path>/<bundle>:line:column` replaced by the source file (relative to
 * `cwd`), line and column it came from. Frames keep V8's function names, which are the minified
 * ones: the source position says which function it is. Positions the map does not cover stay as
 * they were.
 */
export function mapStack(stack: string, { bundle, map, sourceRoot }: BundleMap, cwd: string = process.cwd()): string {
  // The bundle's name, alone or at the end of a path or URL, after a space or "(" (V8's frame shapes).
  const position = new RegExp(`(?<=^|[\\s(])(?:[^\\s()]*/)?${escapeRegExp(bundle)}:(\\d+):(\\d+)`, "gm");
  return stack.replace(position, (whole, line: string, column: string) => {
    // Stack positions count from 1, the map from 0. The entry is the mapped segment the position
    // falls in; one from an earlier line means the map does not know this position.
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!("originalSource" in entry) || entry.generatedLine !== Number(line) - 1) return whole;
    return `${relative(cwd, resolve(sourceRoot, entry.originalSource))}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}
