/**
 * ConfigPublisher: the one place admin writes to the config go through. KV has no compare-and-set,
 * so two admins publishing at once could each read version A, each write, and one change would be
 * lost. This object (a single instance) runs publishes one at a time: it checks the caller's
 * expected version against the current pointer, writes the new version, moves the pointer last,
 * and records the version in its history. A publish that expected another version gets a conflict
 * and writes nothing. Each pointer move it makes gets the next number of one counter, so an isolate
 * that hears of two moves in either order can tell which came last (src/config/snapshot-cache.ts).
 */
import { DurableObject } from "cloudflare:workers";
import { deploymentValidation } from "../config/deployment.ts";
import { exposureWarnings } from "../config/exposure.ts";
import { parseConfig } from "../config/schema.ts";
import { pointTo, readPointer, readVersionDocument, storeVersion } from "../config/store.ts";
import type { Bindings } from "../env.ts";
import type { ConfigIssue, ConfigValidationOptions } from "../lib/config/fields.ts";

/** What the caller believes is current: a version, nothing yet (first publish), or anything (no check). */
export type Expectation = { kind: "version"; version: string } | { kind: "none" } | { kind: "any" };

export type PublishAction = "publish" | "rollback" | "edit";

export interface VersionEntry {
  version: string;
  publishedAt: string;
  action: PublishAction;
  /** For edits: what changed ("put route users"); for rollbacks: the version rolled back from. */
  detail: string | null;
  routes: number;
  clusters: number;
}

export type PublishOutcome =
  | {
      kind: "published";
      version: string;
      previous: string | null;
      warnings: ConfigIssue[];
      /** This pointer move's place among all this object made: a later move has a larger number. */
      sequence: number;
    }
  | { kind: "conflict"; current: string | null }
  | { kind: "invalid"; issues: ConfigIssue[] }
  | { kind: "version-not-found" };

const HISTORY = "history";
const SEQUENCE = "sequence";
/** Entries kept in the history; the documents themselves stay in KV. */
const HISTORY_LIMIT = 500;

function matches(expected: Expectation, current: string | null): boolean {
  if (expected.kind === "any") return true;
  if (expected.kind === "none") return current === null;
  return expected.version === current;
}

export class ConfigPublisher extends DurableObject<Bindings> {
  // Publishes wait for each other: a KV write is an await, during which another call could
  // otherwise read the same pointer.
  #tail: Promise<unknown> = Promise.resolve();

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => {});
    return run;
  }

  get #validation(): ConfigValidationOptions {
    return deploymentValidation(this.env);
  }

  /** Records a pointer move in the history and returns its sequence number. */
  #record(entry: VersionEntry): number {
    const history = this.ctx.storage.kv.get<VersionEntry[]>(HISTORY) ?? [];
    history.unshift(entry);
    this.ctx.storage.kv.put(HISTORY, history.slice(0, HISTORY_LIMIT));
    const sequence = (this.ctx.storage.kv.get<number>(SEQUENCE) ?? 0) + 1;
    this.ctx.storage.kv.put(SEQUENCE, sequence);
    return sequence;
  }

  /** Validates `document` and, if the current version is the expected one, publishes it. */
  publish(document: unknown, expected: Expectation, action: PublishAction, detail: string | null): Promise<PublishOutcome> {
    return this.#serially(async () => {
      const parsed = parseConfig(document, this.#validation);
      if (!parsed.ok) return { kind: "invalid", issues: parsed.issues };
      const current = await readPointer(this.env.CONFIG);
      if (!matches(expected, current)) return { kind: "conflict", current };
      const version = await storeVersion(this.env.CONFIG, document);
      await pointTo(this.env.CONFIG, version);
      const sequence = this.#record({
        version,
        publishedAt: new Date().toISOString(),
        action,
        detail,
        routes: parsed.config.routes.length,
        clusters: Object.keys(parsed.config.clusters).length,
      });
      return { kind: "published", version, previous: current, warnings: exposureWarnings(parsed.config), sequence };
    });
  }

  /**
   * Makes an earlier version current again. The pointer moves back to it (versions are immutable,
   * so it is exactly what was served then); it must still pass today's validation.
   */
  rollback(version: string, expected: Expectation): Promise<PublishOutcome> {
    return this.#serially(async () => {
      const document = await readVersionDocument(this.env.CONFIG, version);
      if (document === null) return { kind: "version-not-found" };
      const parsed = parseConfig(document, this.#validation);
      if (!parsed.ok) return { kind: "invalid", issues: parsed.issues };
      const current = await readPointer(this.env.CONFIG);
      if (!matches(expected, current)) return { kind: "conflict", current };
      await pointTo(this.env.CONFIG, version);
      const sequence = this.#record({
        version,
        publishedAt: new Date().toISOString(),
        action: "rollback",
        detail: current,
        routes: parsed.config.routes.length,
        clusters: Object.keys(parsed.config.clusters).length,
      });
      return { kind: "published", version, previous: current, warnings: exposureWarnings(parsed.config), sequence };
    });
  }

  /** Versions made current through this object, newest first. */
  history(): VersionEntry[] {
    return this.ctx.storage.kv.get<VersionEntry[]>(HISTORY) ?? [];
  }
}
