/**
 * Stack traces of a minified bundle mapped back to the source: a real stack from a bundle built
 * the way wrangler builds the deploy bundle (esbuild, minified, external source map), in the frame
 * shapes V8 writes; positions the map does not know, and other files, left as they were.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildSync } from "esbuild";
import { describe, expect, it } from "vitest";
import { mapStack, readBundleMap } from "./source-map-stack.ts";

const SOURCE = [
  "export function handleRequest(path: string): string {",
  "  return parseRoute(path);",
  "}",
  "",
  "function parseRoute(path: string): string {",
  '  if (path.length > 0) return new Error("boom").stack ?? "";',
  '  return "";',
  "}",
  "",
].join("\n");

/** A minified bundle of SOURCE with its map, as dist/ holds them; and the stack it throws. */
async function minifiedStack(): Promise<{ dir: string; stack: string }> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-map-stack-"));
  writeFileSync(join(dir, "handler.ts"), SOURCE);
  buildSync({
    entryPoints: [join(dir, "handler.ts")],
    bundle: true,
    minify: true,
    sourcemap: "external",
    format: "esm",
    outfile: join(dir, "dist/index.js"),
  });
  const bundle = (await import(pathToFileURL(join(dir, "dist/index.js")).href)) as { handleRequest(path: string): string };
  return { dir, stack: bundle.handleRequest("/users") };
}

describe("mapStack", () => {
  it("maps each frame of the bundle to its source file and line", async () => {
    const { dir, stack } = await minifiedStack();
    expect(stack).toMatch(/dist\/index\.js:1:\d+/);
    const mapped = mapStack(stack, readBundleMap(join(dir, "dist/index.js.map")), dir);
    const frames = mapped.split("\n").slice(1, 3);
    expect(frames[0]).toMatch(/ \(handler\.ts:6:\d+\)$/);
    expect(frames[1]).toMatch(/ \(handler\.ts:2:\d+\)$/);
    expect(mapped).not.toContain("index.js");
  });

  it("reads the frame shapes V8 writes: named, anonymous, async, a bare name or a URL", async () => {
    const { dir } = await minifiedStack();
    const map = readBundleMap(join(dir, "dist/index.js.map"));
    const stack = [
      "Error: boom",
      "    at Ke (index.js:1:10)",
      "    at index.js:1:10",
      "    at async Object.fetch (worker/index.js:1:10)",
      "    at file:///srv/index.js:1:10",
    ].join("\n");
    const mapped = mapStack(stack, map, dir).split("\n");
    expect(mapped.slice(1)).toEqual([
      expect.stringMatching(/^ {4}at Ke \(handler\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^ {4}at handler\.ts:\d+:\d+$/),
      expect.stringMatching(/^ {4}at async Object\.fetch \(handler\.ts:\d+:\d+\)$/),
      expect.stringMatching(/^ {4}at handler\.ts:\d+:\d+$/),
    ]);
  });

  it("leaves other files, lookalike names and positions outside the bundle as they were", async () => {
    const { dir } = await minifiedStack();
    const map = readBundleMap(join(dir, "dist/index.js.map"));
    const stack = ["Error: boom", "    at x (node:internal/url.js:3:4)", "    at y (myindex.js:1:10)", "    at z (index.js:999:1)"].join(
      "\n",
    );
    expect(mapStack(stack, map, dir)).toBe(stack);
  });
});
