import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { LogLine } from "../lib/log.ts";
import * as compile from "./compile.ts";
import { SnapshotCache, type SnapshotSource } from "./snapshot-cache.ts";
import { publishConfig } from "./store.ts";

// compileConfig, with a way to make one call throw as a compile bug would.
vi.mock("./compile.ts", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./compile.ts")>();
  return { ...actual, compileConfig: vi.fn(actual.compileConfig) };
});

const validation = { allowPrivateUpstreams: false };
const config = (path: string) => ({
  clusters: { c: { targets: [{ url: "https://c.example.com" }] } },
  routes: [{ id: "r", match: { path }, cluster: "c" }],
});

function harness() {
  let now = 1_000_000;
  const lines: LogLine[] = [];
  const cache = new SnapshotCache(
    () => now,
    (line) => lines.push(line),
  );
  const source: SnapshotSource = { kv: env.CONFIG, validation, refreshIntervalMs: 1_000 };
  return { cache, lines, get: () => cache.get(source, () => {}), advance: (ms: number) => (now += ms) };
}

function compileBug(): void {
  vi.mocked(compile.compileConfig).mockImplementationOnce(() => {
    throw new TypeError("Cannot read properties of undefined (reading 'targets')");
  });
}

describe("SnapshotCache: a config that does not compile", () => {
  it("logs a compile bug as config.compile_failed with its message, never as config.unreachable", async () => {
    const published = await publishConfig(env.CONFIG, config("/compile-bug"), validation);
    const h = harness();
    compileBug();
    expect(await h.get()).toBeUndefined();
    expect(h.cache.status().state).toBe("invalid");
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]).toMatchObject({
      level: "error",
      event: "config.compile_failed",
      version: published.ok ? published.version : "",
      error: { name: "TypeError", message: "Cannot read properties of undefined (reading 'targets')" },
    });
    expect(h.lines.some((line) => line.event === "config.unreachable")).toBe(false);
  });

  it("keeps serving the last good snapshot when a new version does not compile, and loads it once it does", async () => {
    await publishConfig(env.CONFIG, config("/good"), validation);
    const h = harness();
    const good = await h.get();
    expect(good).toBeDefined();

    const next = await publishConfig(env.CONFIG, config("/next"), validation);
    h.advance(1_000);
    compileBug();
    await h.cache.refresh({ kv: env.CONFIG, validation, refreshIntervalMs: 1_000 });
    expect(h.cache.status()).toMatchObject({ snapshot: good, state: "loaded" });
    expect(h.lines.at(-1)).toMatchObject({ event: "config.compile_failed", version: next.ok ? next.version : "" });

    // The bug is per attempt, not remembered: the next check compiles the same version again.
    h.advance(1_000);
    await h.cache.refresh({ kv: env.CONFIG, validation, refreshIntervalMs: 1_000 });
    expect(h.cache.status().snapshot?.version).toBe(next.ok ? next.version : "");
    expect(h.lines.at(-1)).toMatchObject({ event: "config.loaded" });
  });
});
