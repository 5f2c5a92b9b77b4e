/**
 * A bounded map whose entries also carry their own expiry: the least recently used entry is
 * dropped when full, and an expired entry is never returned. Pure; the caller passes the clock.
 */
export class ExpiringLru<K, V> {
  // A Map iterates in insertion order, so re-inserting on use keeps the least recent entry first.
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();
  readonly maxEntries: number;

  constructor(maxEntries: number) {
    this.maxEntries = Math.max(0, Math.floor(maxEntries));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live value for `key`, or undefined when absent or expired at `now` (epoch ms). */
  get(key: K, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAt` (epoch ms), evicting the least recently used entry when full. */
  set(key: K, value: V, expiresAt: number): void {
    if (this.maxEntries === 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }
}
