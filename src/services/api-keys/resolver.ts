/**
 * Resolving a presented API key to its record, through an isolate cache: a known key (and a known
 * bad one) costs no KV read until its TTL runs out, so steady traffic stays at one subrequest. A
 * revoked key therefore keeps working in an isolate for at most the route's cacheTtlSec.
 */
import { ExpiringLru } from "../../lib/expiring-lru.ts";
import { API_KEY_PREFIX, type ApiKeyRecord, hashApiKey, parseApiKeyRecord } from "./store.ts";

export type ApiKeyResolution = { kind: "valid"; record: ApiKeyRecord } | { kind: "invalid" } | { kind: "unavailable" };

/** Keys longer than this, or with characters no generated key has, are refused unhashed. */
const KEY_SHAPE = /^[\x21-\x7e]{8,256}$/;
/** A key not found is remembered for at most this long, so a newly created key works soon. */
const NEGATIVE_TTL_MS = 5_000;

const encoder = new TextEncoder();

function sameHash(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.byteLength === y.byteLength && crypto.subtle.timingSafeEqual(x, y);
}

export class ApiKeyResolver {
  readonly #cache: ExpiringLru<string, ApiKeyRecord | null>;
  readonly #inFlight = new Map<string, Promise<ApiKeyRecord | null>>();
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#cache = new ExpiringLru(maxEntries);
    this.#now = now;
  }

  async resolve(kv: KVNamespace, key: string, ttlMs: number): Promise<ApiKeyResolution> {
    if (!KEY_SHAPE.test(key)) return { kind: "invalid" };
    const hash = await hashApiKey(key);
    const now = this.#now();
    let record = this.#cache.get(hash, now);
    if (record === undefined) {
      // One KV read per key however many requests present it at once.
      let reading = this.#inFlight.get(hash);
      if (reading === undefined) {
        reading = kv
          .get(API_KEY_PREFIX + hash)
          .then(parseApiKeyRecord)
          .then((found) => found ?? null)
          .finally(() => this.#inFlight.delete(hash));
        this.#inFlight.set(hash, reading);
      }
      try {
        record = await reading;
      } catch {
        return { kind: "unavailable" };
      }
      this.#cache.set(hash, record, now + (record === null ? Math.min(ttlMs, NEGATIVE_TTL_MS) : ttlMs));
    }
    if (record === null || !sameHash(record.hash, hash) || record.disabled) return { kind: "invalid" };
    if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return { kind: "invalid" };
    return { kind: "valid", record };
  }
}
