/**
 * The isolate's current config version. Requests read it from memory; a check of the KV pointer
 * runs in the background (ctx.waitUntil) at most once per refresh interval, and a new version
 * replaces the old one in a single assignment, installed together with the isolate's runtime. A
 * request keeps the snapshot (and the runtime handles) it started with.
 *
 * How old a served version can be is bounded twice over (docs/operations.md states the bound):
 * - the isolate that publishes through the admin API installs the new version from the publisher's
 *   answer before that answer goes out (`adopt`), and a KV read that still names a version the
 *   publish replaced does not bring it back;
 * - a request that finds the last answered check older than STALE_AFTER_INTERVALS intervals (the
 *   isolate was idle) waits for a check, at most `staleWaitMs`, instead of being served at once
 *   with whatever the isolate had.
 */

import type { ConfigValidationOptions } from "../lib/config/fields.ts";
import { errorFields, type LogLine, log } from "../lib/log.ts";
import { customPolicyModules } from "../policies/registry.ts";
import { type InstalledVersion, IsolateRuntime } from "../runtime/isolate-runtime.ts";
import { compileConfig, type Snapshot } from "./compile.ts";
import { parseConfig } from "./schema.ts";
import { type ConfigKv, POINTER_CACHE_TTL_SECONDS, readCurrentConfig } from "./store.ts";

/** A refresh that has not finished in this long is presumed lost and may be started again. */
const STUCK_REFRESH_MS = 30_000;

/**
 * A request waits for a check once the last answered one is older than this many intervals. Two,
 * not one: under steady traffic the check that comes due each interval runs in the background and
 * is answered well before a second interval has passed, so no request waits; only a request after
 * an idle gap does.
 */
export const STALE_AFTER_INTERVALS = 2;

/**
 * How long such a request waits for the check before it is served with what the isolate has: a
 * cold KV read of the pointer, and when it moved, of the version and its compile (about 45 ms for
 * 1,000 routes, BENCHMARKS.md).
 */
export const DEFAULT_STALE_WAIT_MS = 250;

/**
 * How long a version this isolate replaced through a publish is not reinstalled from a KV read
 * that still names it (KV here may serve the old pointer for up to its cacheTtl), unless KV shows
 * the publish or a later version first. Twice the pointer's cacheTtl: past it, KV is believed.
 */
export const REPLACED_HOLD_MS = 2 * POINTER_CACHE_TTL_SECONDS * 1000;

export interface SnapshotSource {
  kv: ConfigKv;
  validation: ConfigValidationOptions;
  refreshIntervalMs: number;
}

export type ConfigState = "loaded" | "missing" | "invalid" | "unreachable";

/** What the config publisher answered to a publish, edit or rollback it carried out. */
export interface PublishedVersion {
  version: string;
  /** The version it replaced; null for the first publish. */
  previous: string | null;
  /** The publisher's number for this pointer move: a later move has a larger one. */
  sequence: number;
  /** The document of `version`, as published. */
  document: unknown;
}

/** Taken before the publisher is called; `adopt` compares it with what KV installed meanwhile. */
export interface PublishTicket {
  readonly kvInstalls: number;
}

/**
 * What `adopt` did: installed the version; found it already installed; left it to the KV check
 * (a later publish was adopted, or KV installed a version during the publish that may be later);
 * or could not compile it (logged).
 */
export type AdoptOutcome = "installed" | "current" | "superseded" | "failed";

export interface SnapshotCacheOptions {
  /** How long a request after an idle gap waits for the check (DEFAULT_STALE_WAIT_MS). */
  staleWaitMs?: number;
}

/** Whether `work` settles within `ms`; it keeps running either way. */
function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timedOut: (settled: boolean) => void = () => {};
  const timeout = new Promise<boolean>((resolve) => {
    timedOut = resolve;
  });
  const timer = setTimeout(() => timedOut(false), ms);
  return Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

export class SnapshotCache {
  #installed: InstalledVersion | undefined;
  #state: ConfigState = "missing";
  /** When the last check ended, answered or not: checks start at most once per interval. */
  #checkedAt = Number.NEGATIVE_INFINITY;
  /** When the pointer was last known: the start of the last check KV answered, or an adopt. */
  #confirmedAt = Number.NEGATIVE_INFINITY;
  #refreshStartedAt: number | undefined;
  #refreshing: Promise<void> | undefined;
  /** A check a request already stopped waiting for: later requests do not wait on it again. */
  #abandoned: Promise<void> | undefined;
  #staleLogged = false;
  /** Versions installed from KV so far: a publish ticket's view of them. */
  #kvInstalls = 0;
  /** The publisher's sequence number of the last adopted version. */
  #adoptedSequence = 0;
  /** Versions a publish through this isolate replaced (null: nothing was published), until when they are held off. */
  readonly #replaced = new Map<string | null, number>();
  readonly #now: () => number;
  readonly #log: (line: LogLine) => void;
  readonly #runtime: IsolateRuntime;
  readonly #staleWaitMs: number;

  constructor(
    now: () => number = Date.now,
    logTo: (line: LogLine) => void = log,
    runtime: IsolateRuntime = new IsolateRuntime({ now }),
    options: SnapshotCacheOptions = {},
  ) {
    this.#now = now;
    this.#log = logTo;
    this.#runtime = runtime;
    this.#staleWaitMs = options.staleWaitMs ?? DEFAULT_STALE_WAIT_MS;
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
   * Returns the installed version to serve with: the snapshot and its runtime handles. A cold
   * isolate (nothing installed yet) awaits KV; otherwise a due check is handed to `waitUntil` and
   * the current version is returned at once, unless the pointer was last known more than
   * STALE_AFTER_INTERVALS intervals ago: then the request waits for the check, at most
   * `staleWaitMs`.
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
    // One comparison in steady state: traffic keeps the pointer known within the bound.
    if (now - this.#confirmedAt > STALE_AFTER_INTERVALS * source.refreshIntervalMs) await this.#catchUp(now);
    return this.#installed;
  }

  /**
   * An idle isolate's first request: waits for the check in flight, at most `staleWaitMs` and
   * only once per check. Served without the check's answer (too slow, or KV failed), it says so
   * once, until a check is answered again.
   */
  async #catchUp(now: number): Promise<void> {
    const check = this.#refreshing;
    const known = this.#confirmedAt;
    let reason: "check-slow" | "check-failed" | undefined;
    // None in flight: the one that came due failed, and the next is not due yet.
    if (check === undefined) reason = "check-failed";
    else if (check === this.#abandoned) reason = "check-slow";
    else if (!(await settlesWithin(check, this.#staleWaitMs))) {
      this.#abandoned = check;
      reason = "check-slow";
    } else if (this.#confirmedAt === known) reason = "check-failed";
    if (reason === undefined || this.#staleLogged) return;
    this.#staleLogged = true;
    this.#log({ level: "warn", event: "config.stale", version: this.#snapshot?.version ?? null, lastCheckAgoMs: now - known, reason });
  }

  /** Checks KV once and swaps in a new snapshot if the pointer moved to a valid config. */
  refresh(source: SnapshotSource): Promise<void> {
    const refreshing = this.#check(source).finally(() => {
      if (this.#refreshing === refreshing) this.#refreshing = undefined;
    });
    this.#refreshing = refreshing;
    return refreshing;
  }

  /** The state to hand to `adopt`: take it before calling the publisher. */
  publishTicket(): PublishTicket {
    return { kvInstalls: this.#kvInstalls };
  }

  /**
   * Installs a version the config publisher just made current, from the document the admin
   * request holds, through the same compile and runtime hand-over as a KV check: the isolate that
   * made the change serves it from its next request instead of after its next check. Answers may
   * arrive out of order, so the publisher's sequence decides which is last; a version KV
   * installed while the publish ran, other than the one it replaced, may be later still and is
   * left to the checks. The versions it replaced are then not reinstalled from a KV read that
   * still names them, for REPLACED_HOLD_MS at most.
   */
  adopt(ticket: PublishTicket, published: PublishedVersion, validation: ConfigValidationOptions): AdoptOutcome {
    const installed = this.#snapshot?.version ?? null;
    if (published.sequence <= this.#adoptedSequence) return "superseded";
    if (ticket.kvInstalls !== this.#kvInstalls && installed !== published.previous && installed !== published.version) return "superseded";
    if (installed !== published.version) {
      const parsed = parseConfig(published.document, validation);
      if (!parsed.ok) {
        // The publisher validated it with the same settings: a refusal here is a gateway bug.
        this.#log({ level: "error", event: "config.invalid", version: published.version, issues: parsed.issues.slice(0, 20) });
        return "failed";
      }
      const snapshot = this.#compile(parsed.config, published.version);
      if (snapshot === undefined) return "failed";
      this.#install(snapshot, "publish");
    }
    const now = this.#now();
    this.#adoptedSequence = published.sequence;
    this.#replaced.delete(published.version);
    this.#replaced.set(published.previous, now + REPLACED_HOLD_MS);
    if (installed !== null && installed !== published.version) this.#replaced.set(installed, now + REPLACED_HOLD_MS);
    // The publisher's answer is the pointer itself, read where it is written.
    this.#confirmed(now);
    return installed === published.version ? "current" : "installed";
  }

  /** The version installed, or one a publish through this isolate replaced a short while ago. */
  #holds(version: string | null): boolean {
    if (version !== null && version === this.#snapshot?.version) return true;
    const until = this.#replaced.get(version);
    if (until === undefined) return false;
    if (this.#now() < until) return true;
    this.#replaced.delete(version);
    return false;
  }

  #confirmed(at: number): void {
    this.#confirmedAt = Math.max(this.#confirmedAt, at);
    this.#staleLogged = false;
  }

  /** Compiles a validated config; a throw is a gateway bug, said as such, and the last good version stays. */
  #compile(config: Parameters<typeof compileConfig>[0], version: string): Snapshot | undefined {
    try {
      return compileConfig(config, version, this.#now, customPolicyModules);
    } catch (error) {
      this.#state = this.#snapshot ? "loaded" : "invalid";
      this.#log({ level: "error", event: "config.compile_failed", version, error: errorFields(error) });
      return undefined;
    }
  }

  /**
   * The isolate's runtime state (health, balancers, budgets, limiters, key sets, caches, flights)
   * is handed over by key once, here, before the version's first request; requests still on the
   * old version keep the handles they started with.
   */
  #install(snapshot: Snapshot, source: "kv" | "publish"): void {
    this.#installed = this.#runtime.install(snapshot);
    this.#state = "loaded";
    if (source === "kv") this.#kvInstalls++;
    this.#log({ level: "info", event: "config.loaded", version: snapshot.version, routes: snapshot.routeCount, source });
  }

  async #check(source: SnapshotSource): Promise<void> {
    const startedAt = this.#now();
    this.#refreshStartedAt = startedAt;
    try {
      // Asked after the pointer is read: an adopt during the read counts.
      const read = await readCurrentConfig(source.kv, source.validation, (version) => this.#holds(version));
      this.#confirmed(startedAt);
      switch (read.kind) {
        case "unchanged":
          // KV shows what this isolate serves: it has caught up with a publish made here.
          if (read.version === this.#snapshot?.version) this.#replaced.clear();
          this.#state = "loaded";
          break;
        case "missing":
          // A first publish made here that KV does not show yet; otherwise keep serving the last
          // good snapshot: a deleted pointer must not take the gateway down.
          if (this.#holds(null)) break;
          this.#state = this.#snapshot ? "loaded" : "missing";
          this.#log({ level: "error", event: "config.missing" });
          break;
        case "invalid":
          this.#state = this.#snapshot ? "loaded" : "invalid";
          this.#log({ level: "error", event: "config.invalid", version: read.version, issues: read.issues.slice(0, 20) });
          break;
        case "loaded": {
          // An adopt may have installed it, or replaced it, while the document was read.
          if (this.#holds(read.version)) break;
          const snapshot = this.#compile(read.config, read.version);
          if (snapshot === undefined) break;
          this.#install(snapshot, "kv");
          // KV shows a version this isolate did not replace: it is past any publish made here.
          this.#replaced.clear();
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
