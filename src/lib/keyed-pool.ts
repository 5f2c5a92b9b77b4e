/**
 * Objects kept by a stable key across config versions. A version is installed through one
 * `handOver`: every key it asks for is given the object the previous version had under that key,
 * or a fresh one; once the hand-over is committed, keys it did not ask for are released. Pure: the
 * pool never looks inside what it keeps.
 *
 * "Released" means forgotten by the pool: an older version that still holds the object keeps using
 * it until its last request ends (nothing is torn down under it), and it is collected after that.
 */
export class KeyedPool<T> {
  #live = new Map<string, T>();

  /** How many keys the installed version holds. */
  get size(): number {
    return this.#live.size;
  }

  /** The object the installed version holds under `key`, if any (admin reads and tests). */
  peek(key: string): T | undefined {
    return this.#live.get(key);
  }

  /** Starts handing the pool over to a new version; nothing changes until `commit`. */
  handOver(): PoolHandOver<T> {
    const previous = this.#live;
    const next = new Map<string, T>();
    let committed = false;
    return {
      take: (key, create) => {
        let value = next.get(key);
        if (value === undefined) {
          value = previous.get(key) ?? create();
          next.set(key, value);
        }
        return value;
      },
      commit: () => {
        // Once, and only over the version it started from: a hand-over overtaken by a newer
        // committed one is stale, and committing it would bring back what the newer one released.
        if (committed || this.#live !== previous) return;
        committed = true;
        this.#live = next;
      },
    };
  }
}

/** One version's hand-over of a `KeyedPool`. */
export interface PoolHandOver<T> {
  /** The object kept under `key`: the previous version's, or `create()` for a key it did not have. */
  take(key: string, create: () => T): T;
  /** Makes the taken keys the installed set and releases the others; a no-op once a newer hand-over was committed. */
  commit(): void;
}
