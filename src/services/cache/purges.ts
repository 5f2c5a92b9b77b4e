/**
 * Purge rules in Workers KV, and each isolate's copy of them. A purge is one KV entry of its own
 * (the rule in its metadata, so one list call reads them all) that KV deletes once no copy it could
 * match can still exist: purges never race each other, and nothing has to clean up after them.
 * Isolates read the list in the background, as they read the config; the isolate that takes a
 * purge applies it at once.
 */

import { type PurgeRule, parsePurgeRule } from "../../lib/cache/purge.ts";
import { log } from "../../lib/log.ts";

export const PURGE_PREFIX = "cache-purges/";

/** KV never expires an entry sooner than this (its expirationTtl minimum), in seconds. */
const MIN_KV_TTL_SEC = 60;

/** Most list pages read (1000 rules each); past that the rules are not all known and stored copies are not used. */
const MAX_PAGES = 5;

/** Writes `rule` for every isolate, kept for `keepSec` (the longest a copy stored before it may live, plus a margin). */
export async function storePurge(kv: KVNamespace, rule: PurgeRule, keepSec: number): Promise<void> {
  const key = `${PURGE_PREFIX}${String(rule.at).padStart(15, "0")}-${crypto.randomUUID()}`;
  await kv.put(key, "", { metadata: rule, expirationTtl: Math.max(MIN_KV_TTL_SEC, Math.ceil(keepSec)) });
}

/** Every rule in KV, or null when there are more than this reads. */
export async function loadPurges(kv: KVNamespace): Promise<PurgeRule[] | null> {
  const rules: PurgeRule[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const listed = await kv.list<unknown>({ prefix: PURGE_PREFIX, ...(cursor === undefined ? {} : { cursor }) });
    for (const key of listed.keys) {
      const rule = parsePurgeRule(key.metadata);
      if (rule !== null) rules.push(rule);
    }
    if (listed.list_complete) return rules;
    cursor = listed.cursor;
  }
  return null;
}

interface OwnRule {
  rule: PurgeRule;
  /** Epoch ms after which KV has surely listed it to everyone, or deleted it. */
  until: number;
}

/**
 * An isolate's view of the purge rules: the last list read from KV, plus the purges this isolate
 * took itself (kept until KV lists them everywhere), refreshed in the background.
 */
export class PurgeLedger {
  readonly #now: () => number;
  #listed: readonly PurgeRule[] | null = null;
  #own: OwnRule[] = [];
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | null = null;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * The rules in force, from memory; null until the first read from KV has landed (or when there
   * are too many to hold). Starts a background read when the last one is older than `refreshMs`.
   */
  current(kv: KVNamespace, refreshMs: number, waitUntil: (work: Promise<unknown>) => void): readonly PurgeRule[] | null {
    const now = this.#now();
    if (this.#reading === null && now - this.#readAt >= refreshMs) waitUntil(this.read(kv));
    const listed = this.#listed;
    if (listed === null) return null;
    if (this.#own.length === 0) return listed;
    this.#own = this.#own.filter((own) => own.until > now);
    return this.#own.length === 0 ? listed : [...listed, ...this.#own.map((own) => own.rule)];
  }

  /** Reads the rules from KV; one read at a time. A failed read keeps the last rules known. */
  read(kv: KVNamespace): Promise<void> {
    this.#reading ??= loadPurges(kv)
      .then((rules) => {
        this.#listed = rules;
        this.#readAt = this.#now();
      })
      .catch((error: unknown) => {
        log({ level: "warn", event: "cache.purges_unreadable", error: error instanceof Error ? error.message : String(error) });
      })
      .finally(() => {
        this.#reading = null;
      });
    return this.#reading;
  }

  /** A purge this isolate took: in force here at once, whatever the next list says. */
  add(rule: PurgeRule, keepMs: number): void {
    this.#own.push({ rule, until: this.#now() + keepMs });
  }
}
