/**
 * One identity provider's signing keys, as this isolate knows them. Requests read imported
 * CryptoKeys from memory; the JWKS is fetched with single flight (one fetch however many requests
 * wait), never twice within the cooldown (after success or failure), refreshed in the background
 * once older than the cache age, and the last good keys keep serving for a bounded time while the
 * endpoint is down, slow or returns garbage (stale-if-error).
 *
 * Unlike jose's remote key set, a fetch is shared across requests: the leader hands it to its
 * `waitUntil` so it completes even if the leader's client goes away, and each waiter awaits it in its
 * own request context with its own timeout (workerd delivers a promise's continuations to the
 * request that awaited it).
 */
import { importJWK } from "jose";
import type { JwksSettings } from "../../lib/auth/config.ts";
import { type LogLine, log as writeLog } from "../../lib/log.ts";
import { count, metricKey } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";
import { keyFitsAlgorithm, type PublicJwk, parseJwks } from "./document.ts";

/** Where documents come from: the identity provider, and a cache shared by the isolates of a location. */
export interface JwksSource {
  /** The document text; throws on any failure (network, status, size, timeout). */
  fetchRemote(uri: string, timeoutMs: number): Promise<string>;
  readShared(uri: string): Promise<{ text: string; fetchedAt: number } | undefined>;
  writeShared(uri: string, text: string, fetchedAt: number, maxAgeMs: number): Promise<void>;
}

/** A published key, with its imports per algorithm, made at most once. */
export interface KeyEntry {
  readonly jwk: PublicJwk;
  readonly imported: Map<string, Promise<CryptoKey | undefined>>;
}

export type KeyLookup =
  | { kind: "key"; key: CryptoKey; entry: KeyEntry }
  /** No published key fits the token's kid and alg, even after any refetch the cooldown allows. */
  | { kind: "no-key"; reason: "unknown-kid" | "ambiguous" | "unusable" }
  /** No keys at all: the JWKS could not be loaded and nothing usable is cached. */
  | { kind: "unavailable" };

type WaitUntil = (promise: Promise<unknown>) => void;
type Log = (line: LogLine) => void;

/** Fetches from identity providers by outcome (a failed one is unreachable, or answered no usable JWKS). */
const FETCHES_OK = metricKey("jwks_fetches_total", { outcome: "ok" });
const FETCHES_FAILED = metricKey("jwks_fetches_total", { outcome: "failed" });

/** Extra time a waiter gives a shared fetch beyond its own timeout before giving up on it. */
const WAITER_GRACE_MS = 250;

export class RemoteKeySet {
  readonly uri: string;
  #entries: KeyEntry[] | undefined;
  #byKid = new Map<string, KeyEntry>();
  /** When the keys in use were fetched from the identity provider (possibly by another isolate). */
  #fetchedAt = Number.NEGATIVE_INFINITY;
  /** When this isolate last asked the identity provider, successfully or not. */
  #attemptedAt = Number.NEGATIVE_INFINITY;
  /** When this isolate last read the shared (Cache API) copy. */
  #sharedReadAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | undefined;
  readonly #source: JwksSource;
  readonly #now: () => number;
  readonly #log: Log;

  constructor(uri: string, source: JwksSource, now: () => number = Date.now, log: Log = writeLog) {
    this.uri = uri;
    this.#source = source;
    this.#now = now;
    this.#log = log;
  }

  /**
   * Ages the keys without waiting: drops them once past cacheMaxAge + maxStale, and starts a
   * background refresh once past cacheMaxAge. Called on every use, cached verifications included,
   * so a key withdrawn by the provider stops working even for tokens that skip the key lookup.
   */
  maintain(settings: JwksSettings, waitUntil: WaitUntil): void {
    if (this.#entries === undefined) return;
    const age = this.#now() - this.#fetchedAt;
    if (age > settings.cacheMaxAgeMs + settings.maxStaleMs) {
      this.#log({ level: "error", event: "jwks.keys_expired", uri: this.uri, ageMs: age });
      this.#install(undefined, Number.NEGATIVE_INFINITY);
    } else if (age > settings.cacheMaxAgeMs && this.#mayFetch(settings)) {
      // Stale but usable: serve these keys and refresh behind the response.
      this.#start(false, settings, waitUntil);
    }
  }

  /** Whether `entry` is still among the published keys (a cached verification must not outlive its key). */
  publishes(entry: KeyEntry): boolean {
    return this.#entries?.includes(entry) ?? false;
  }

  /** The key for a token's `kid` and `alg`, loading or refetching the JWKS only as the rules above allow. */
  async key(kid: string | undefined, alg: string, settings: JwksSettings, waitUntil: WaitUntil): Promise<KeyLookup> {
    this.maintain(settings, waitUntil);
    if (this.#entries === undefined) {
      await this.#load(true, settings, waitUntil);
      if (this.#entries === undefined) return { kind: "unavailable" };
    }

    let found = this.#select(kid, alg);
    if (found.kind === "no-key" && found.reason === "unknown-kid" && (this.#loading !== undefined || this.#mayFetch(settings))) {
      // A kid the isolate has not seen may be a freshly rotated key: one refetch per cooldown, shared.
      await this.#load(false, settings, waitUntil);
      found = this.#select(kid, alg);
    }
    if (found.kind !== "entry") return found;
    const key = await importFor(found.entry, alg);
    return key ? { kind: "key", key, entry: found.entry } : { kind: "no-key", reason: "unusable" };
  }

  /** No load running, and the cooldown since the last ask of the identity provider has passed. */
  #mayFetch(settings: JwksSettings): boolean {
    return this.#loading === undefined && this.#cooledDown(settings);
  }

  #cooledDown(settings: JwksSettings): boolean {
    return this.#now() - this.#attemptedAt >= settings.cooldownMs;
  }

  #select(
    kid: string | undefined,
    alg: string,
  ): { kind: "entry"; entry: KeyEntry } | { kind: "no-key"; reason: "unknown-kid" | "ambiguous" | "unusable" } {
    if (kid !== undefined) {
      const entry = this.#byKid.get(kid);
      if (entry === undefined) return { kind: "no-key", reason: "unknown-kid" };
      return keyFitsAlgorithm(entry.jwk, alg) ? { kind: "entry", entry } : { kind: "no-key", reason: "unusable" };
    }
    // Without a kid, a key is chosen only when exactly one published key can verify the algorithm.
    const fitting = (this.#entries ?? []).filter((entry) => keyFitsAlgorithm(entry.jwk, alg));
    if (fitting.length === 1) return { kind: "entry", entry: fitting[0] as KeyEntry };
    return { kind: "no-key", reason: fitting.length === 0 ? "unknown-kid" : "ambiguous" };
  }

  /** Joins the running load or starts one (if the cooldown allows), and waits for it, bounded. */
  async #load(useShared: boolean, settings: JwksSettings, waitUntil: WaitUntil): Promise<void> {
    if (this.#loading === undefined) {
      // The shared copy is read at most once per cooldown too: with the provider down and nothing
      // cached anywhere, requests get their 503 from memory instead of a cache read each.
      const readShared = useShared && this.#now() - this.#sharedReadAt >= settings.cooldownMs;
      if (!readShared && !this.#mayFetch(settings)) return;
      this.#start(readShared, settings, waitUntil);
    }
    const loading = this.#loading;
    if (loading === undefined) return;
    // Past its own deadline a waiter stops waiting and answers from what the set holds.
    await withTimeout(loading, settings.timeoutMs + WAITER_GRACE_MS, () => new Error("JWKS wait timed out")).catch(() => {});
  }

  #start(useShared: boolean, settings: JwksSettings, waitUntil: WaitUntil): void {
    const loading = this.#refresh(useShared, settings).finally(() => {
      this.#loading = undefined;
    });
    this.#loading = loading;
    waitUntil(loading);
  }

  async #refresh(useShared: boolean, settings: JwksSettings): Promise<void> {
    if (useShared) {
      this.#sharedReadAt = this.#now();
      const shared = await this.#source.readShared(this.uri).catch(() => undefined);
      const parsed = shared ? parseJwks(shared.text) : undefined;
      if (shared && parsed?.ok && this.#now() - shared.fetchedAt <= settings.cacheMaxAgeMs) {
        this.#install(parsed.keys, shared.fetchedAt);
        return;
      }
      // Nothing fresh there: the shared read does not count against the cooldown, but the fetch
      // below does, so a down provider still sees one fetch per cooldown from this isolate.
      if (!this.#cooledDown(settings)) return;
    }
    const startedAt = this.#now();
    this.#attemptedAt = startedAt;
    let text: string;
    try {
      text = await this.#source.fetchRemote(this.uri, settings.timeoutMs);
    } catch (error) {
      this.#failed(error instanceof Error ? error.message : "fetch failed");
      return;
    }
    const parsed = parseJwks(text);
    if (!parsed.ok) {
      this.#failed(parsed.reason);
      return;
    }
    this.#install(parsed.keys, startedAt);
    count(FETCHES_OK);
    this.#log({ level: "info", event: "jwks.refreshed", uri: this.uri, keys: parsed.keys.length });
    await this.#source.writeShared(this.uri, text, startedAt, settings.cacheMaxAgeMs).catch(() => undefined);
  }

  #failed(reason: string): void {
    count(FETCHES_FAILED);
    // Keys already held stay in use until they are older than cacheMaxAge + maxStale.
    this.#log({ level: "error", event: "jwks.fetch_failed", uri: this.uri, reason, servingStale: this.#entries !== undefined });
  }

  #install(keys: PublicJwk[] | undefined, fetchedAt: number): void {
    if (keys === undefined) {
      this.#entries = undefined;
      this.#byKid = new Map();
      this.#fetchedAt = fetchedAt;
      return;
    }
    // Unchanged keys keep their entry (and its imported CryptoKeys, and the cached tokens they verified).
    const previous = new Map((this.#entries ?? []).map((entry) => [JSON.stringify(entry.jwk), entry]));
    const entries = keys.map((jwk) => previous.get(JSON.stringify(jwk)) ?? { jwk, imported: new Map() });
    const byKid = new Map<string, KeyEntry>();
    for (const entry of entries) if (entry.jwk.kid !== undefined) byKid.set(entry.jwk.kid, entry);
    this.#entries = entries;
    this.#byKid = byKid;
    this.#fetchedAt = fetchedAt;
  }
}

/** The entry's key imported for `alg`, once; undefined when the key material does not import. */
function importFor(entry: KeyEntry, alg: string): Promise<CryptoKey | undefined> {
  let imported = entry.imported.get(alg);
  if (imported === undefined) {
    imported = importJWK({ ...entry.jwk }, alg).then(
      (key) => (key instanceof Uint8Array ? undefined : key),
      () => undefined,
    );
    entry.imported.set(alg, imported);
  }
  return imported;
}
