/**
 * The isolate's current config snapshot. Requests read it from memory; a check of the KV pointer
 * runs in the background (ctx.waitUntil) at most once per refresh interval, and a new snapshot
 * replaces the old one in a single assignment, installed together with the isolate's runtime. A
 * request keeps the snapshot (and the runtime handles) it started with.
 */

import type { ConfigValidationOptions } from "../lib/config/fields.ts";
import { errorFields, type LogLine, log } from "../lib/log.ts";
import { type InstalledVersion, IsolateRuntime } from "../runtime/isolate-runtime.ts";
import { compileConfig, type Snapshot } from "./compile.ts";
import { type ConfigKv, readCurrentConfig } from "./store.ts";

/** A refresh that has not finished in this long is presumed lost and may be started again. */
const STUCK_REFRESH_MS = 30_000;

export interface SnapshotSource {
  kv: ConfigKv;
  validation: ConfigValidationOptions;
  refreshIntervalMs: number;
}

export type ConfigState = "loaded" | "missing" | "invalid" | "unreachable";

export class SnapshotCache {
  #installed: InstalledVersion | undefined;
  #state: ConfigState = "missing";
  #checkedAt = Number.NEGATIVE_INFINITY;
  #refreshStartedAt: number | undefined;
  #refreshing: Promise<void> | undefined;
  readonly #now: () => number;
  readonly #log: (line: LogLine) => void;
  readonly #runtime: IsolateRuntime;

  constructor(now: () => number = Date.now, logTo: (line: LogLine) => void = log, runtime: IsolateRuntime = new IsolateRuntime({ now })) {
    this.#now = now;
    this.#log = logTo;
    this.#runtime = runtime;
  }

  /** The isolate runtime that versions are installed into (admin reads of its state). */
  get runtime(): IsolateRuntime {
    return this.#runtime;
  }

  get #snapshot(): Snapshot | undefined {
    return this.#installed?.snapshot;
  }

  /** The snapshot requests use, plus what the last check of KV found. */
  status(): { snapshot: Snapshot | undefined; state: ConfigState } {
    return { snapshot: this.#snapshot, state: this.#state };
  }

  /** Returns the snapshot to serve with, as `serve` does. */
  async get(source: SnapshotSource, waitUntil: (p: Promise<unknown>) => void): Promise<Snapshot | undefined> {
    return (await this.serve(source, waitUntil))?.snapshot;
  }

  /**
   * Returns the installed version to serve with: the snapshot and its runtime handles. Only a cold
   * isolate (nothing installed yet) awaits KV; otherwise a due check is handed to `waitUntil` and
   * the current version is returned at once.
   */
  async serve(source: SnapshotSource, waitUntil: (p: Promise<unknown>) => void): Promise<InstalledVersion | undefined> {
    const now = this.#now();
    const due = now - this.#checkedAt >= source.refreshIntervalMs;
    const stuck = this.#refreshStartedAt !== undefined && now - this.#refreshStartedAt > STUCK_REFRESH_MS;
    if (this.#installed === undefined) {
      // Cold isolates load in the request: there is nothing else to serve with. Concurrent cold
      // requests share one load (one KV read, one compile), which the first hands to its waitUntil
      // so it finishes even if that client goes away. A refused load is remembered for one
      // interval so a missing config does not cost every request two KV reads.
      if (this.#refreshing !== undefined && !stuck) await this.#refreshing;
      else if (due) {
        const loading = this.refresh(source);
        waitUntil(loading);
        await loading;
      }
      return this.#installed;
    }
    if (due && (this.#refreshStartedAt === undefined || stuck)) waitUntil(this.refresh(source));
    return this.#installed;
  }

  /** Checks KV once and swaps in a new snapshot if the pointer moved to a valid config. */
  refresh(source: SnapshotSource): Promise<void> {
    const refreshing = this.#check(source).finally(() => {
      if (this.#refreshing === refreshing) this.#refreshing = undefined;
    });
    this.#refreshing = refreshing;
    return refreshing;
  }

  async #check(source: SnapshotSource): Promise<void> {
    this.#refreshStartedAt = this.#now();
    try {
      const read = await readCurrentConfig(source.kv, source.validation, this.#snapshot?.version);
      switch (read.kind) {
        case "unchanged":
          this.#state = "loaded";
          break;
        case "missing":
          // Keep serving the last good snapshot: a deleted pointer must not take the gateway down.
          this.#state = this.#snapshot ? "loaded" : "missing";
          this.#log({ level: "error", event: "config.missing" });
          break;
        case "invalid":
          this.#state = this.#snapshot ? "loaded" : "invalid";
          this.#log({ level: "error", event: "config.invalid", version: read.version, issues: read.issues.slice(0, 20) });
          break;
        case "loaded": {
          let snapshot: Snapshot;
          try {
            snapshot = compileConfig(read.config, read.version, this.#now);
          } catch (error) {
            // The document passed validation, so a throw here is a gateway bug, not a KV outage:
            // said as such, with its message, while the last good snapshot keeps serving.
            this.#state = this.#snapshot ? "loaded" : "invalid";
            this.#log({ level: "error", event: "config.compile_failed", version: read.version, error: errorFields(error) });
            break;
          }
          // The isolate's runtime state (health, balancers, budgets, limiters, key sets, caches,
          // flights) is handed over by key once, here, before the version's first request;
          // requests still on the old version keep the handles they started with.
          this.#installed = this.#runtime.install(snapshot);
          this.#state = "loaded";
          this.#log({ level: "info", event: "config.loaded", version: read.version, routes: snapshot.routeCount });
          break;
        }
      }
    } catch (error) {
      this.#state = this.#snapshot ? "loaded" : "unreachable";
      this.#log({ level: "error", event: "config.unreachable", error: error instanceof Error ? error.name : "unknown" });
    } finally {
      this.#checkedAt = this.#now();
      this.#refreshStartedAt = undefined;
    }
  }
}

/**
 * The isolate's cache. Module scope is deliberate: isolates serve many requests, and the snapshot
 * is read-only to them; a Worker has one CONFIG namespace, so one cache per isolate suffices.
 */
export const snapshotCache = new SnapshotCache();
