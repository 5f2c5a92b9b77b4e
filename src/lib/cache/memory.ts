/**
 * The isolate's own tier of the response cache: the copies it stored lately, held in memory in
 * front of the Cache API. A hit here costs no lookup in the location's cache (a subrequest of the
 * runtime's own, as dear as an upstream call); a miss falls through to it. Bounded by bytes, least
 * recently used first out; a copy leaves at the end of its lifetime (fresh, then stale-while-
 * revalidate or stale-if-error), as the Cache API drops it. It holds exactly what was handed to
 * the Cache API (the entry record included), so every rule that applies to a stored copy (purges,
 * freshness) applies to it the same way. Pure; the caller passes the clock.
 */
import type { HeaderPairs } from "../headers.ts";

/** A stored copy: what a Response is built from for each caller. */
export interface KeptCopy {
  status: number;
  statusText: string;
  headers: HeaderPairs;
  body: Blob | null;
}

interface Entry {
  copy: KeptCopy;
  bytes: number;
  expiresAt: number;
}

/** A copy's weight: its body and its fields (a rough but safe measure of the memory it holds). */
function weigh(copy: KeptCopy): number {
  let bytes = copy.body?.size ?? 0;
  for (const [name, value] of copy.headers) bytes += name.length + value.length;
  return bytes;
}

export class CopyMemory {
  // A Map iterates in insertion order, so re-inserting on use keeps the least recent entry first.
  readonly #entries = new Map<string, Entry>();
  readonly maxBytes: number;
  /** The largest copy held: a larger one is left to the Cache API, so one answer cannot empty the tier. */
  readonly maxCopyBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = Math.max(0, Math.floor(maxBytes));
    this.maxCopyBytes = Math.floor(this.maxBytes / 16);
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The copy under `key`, unless absent or past its lifetime at `now` (epoch ms). */
  get(key: string, now: number): KeptCopy | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.copy;
  }

  /** Holds `copy` under `key` until `expiresAt`, dropping the least recently used ones to make room. */
  set(key: string, copy: KeptCopy, expiresAt: number): void {
    this.delete(key);
    const bytes = weigh(copy);
    if (bytes > this.maxCopyBytes) return;
    while (this.#bytes + bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
    this.#entries.set(key, { copy, bytes, expiresAt });
    this.#bytes += bytes;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}
