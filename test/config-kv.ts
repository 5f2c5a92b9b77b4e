/**
 * The config store's KV surface in memory, for the snapshot cache's tests: the test decides when
 * reads answer (held until released), whether they fail, and sees how many there were.
 */
import type { ConfigKv } from "../src/config/store.ts";
import { CONFIG_POINTER_KEY, configVersionKey, storeVersion } from "../src/config/store.ts";

export class MemoryConfigKv implements ConfigKv {
  readonly values = new Map<string, string>();
  /** Every read, with the cacheTtl it asked for. */
  readonly reads: Array<{ key: string; cacheTtl: number | undefined }> = [];
  #held: Promise<void> | undefined;
  #release: () => void = () => {};
  failing = false;

  async get(key: string, options?: { cacheTtl?: number }): Promise<string | null> {
    this.reads.push({ key, cacheTtl: options?.cacheTtl });
    if (this.#held) await this.#held;
    if (this.failing) throw new Error("KV is down");
    return this.values.get(key) ?? null;
  }

  async put(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }

  /** Reads from now on wait until `release`. */
  hold(): void {
    this.#held ??= new Promise((resolve) => {
      this.#release = resolve;
    });
  }

  release(): void {
    this.#held = undefined;
    this.#release();
  }

  /** Stores a document as a new version without moving the pointer, as the publisher's first write does. */
  store(document: unknown): Promise<string> {
    return storeVersion(this, document);
  }

  /** Moves the pointer (the publisher's last write, or KV here catching up with it). */
  point(version: string | null): void {
    if (version === null) this.values.delete(CONFIG_POINTER_KEY);
    else this.values.set(CONFIG_POINTER_KEY, version);
  }

  /** Stores a version and points to it. */
  async publish(document: unknown): Promise<string> {
    const version = await this.store(document);
    this.point(version);
    return version;
  }

  /** Whether the document of `version` was read. */
  readDocument(version: string): boolean {
    return this.reads.some((read) => read.key === configVersionKey(version));
  }
}
