/**
 * IdempotencyStore: one object per route, caller and Idempotency-Key, holding that key's record. A
 * thin RPC shell over the pure rules (lib/idempotency/record.ts): each call reads, decides and writes with
 * the synchronous SQLite-backed `kv` API, so two duplicates racing for the key cannot both win. An
 * alarm deletes the record when it expires.
 */
import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env.ts";
import { type Begin, begin, complete, type KeyRecord, type StoredAnswer } from "../lib/idempotency/record.ts";

const RECORD = "record";

export class IdempotencyStore extends DurableObject<Bindings> {
  #write(record: KeyRecord | undefined): void {
    const storage = this.ctx.storage;
    if (record === undefined) {
      storage.kv.delete(RECORD);
      void storage.deleteAlarm();
      return;
    }
    storage.kv.put(RECORD, record);
    void storage.setAlarm(record.expiresAt);
  }

  /** Takes the key for `fingerprint`, or says why not (in progress, mismatch, or the answer to replay). */
  begin(fingerprint: string, leaseMs: number, ttlMs: number): Begin {
    const before = this.ctx.storage.kv.get<KeyRecord>(RECORD);
    const { outcome, record } = begin(before, fingerprint, Date.now(), leaseMs, ttlMs);
    if (record !== before) this.#write(record);
    return outcome;
  }

  /** Completes the key with the answer to replay, or releases it (null). */
  complete(fingerprint: string, answer: StoredAnswer | null, ttlMs: number): void {
    const before = this.ctx.storage.kv.get<KeyRecord>(RECORD);
    const after = complete(before, fingerprint, answer, Date.now(), ttlMs);
    if (after !== before) this.#write(after);
  }

  override alarm(): void {
    const record = this.ctx.storage.kv.get<KeyRecord>(RECORD);
    if (record === undefined) return;
    if (record.expiresAt <= Date.now()) this.ctx.storage.kv.delete(RECORD);
    else void this.ctx.storage.setAlarm(record.expiresAt);
  }
}
