/**
 * The I/O behind a key set: fetching a JWKS from the identity provider, and sharing the fetched
 * document with the other isolates of this location through the Cache API, so a cold isolate
 * usually starts from the cache instead of calling the identity provider.
 */

import { readUpTo } from "../../lib/bounded-read.ts";
import { MAX_JWKS_BYTES } from "./document.ts";
import type { JwksSource } from "./key-set.ts";

/** Cache API keys live under a reserved name that never resolves, so they cannot shadow a real URL. */
const SHARED_CACHE_PREFIX = "https://jwks-cache.edgegate.invalid/?uri=";
const FETCHED_AT_HEADER = "x-edgegate-fetched-at";

/**
 * The Workers default cache. Reached through a cast because the bench scripts also type-check
 * this module against Node's lib, whose CacheStorage has no `default`.
 */
function defaultCache(): Cache {
  return (caches as unknown as { default: Cache }).default;
}

/** Reads a body up to `limit` bytes, failing beyond it instead of buffering an unbounded document. */
async function readCapped(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new Error("document too large");
  }
  const read = await readUpTo(response.body, limit);
  if (read.kind === "too-large") throw new Error("document too large");
  return new TextDecoder().decode(read.bytes);
}

/** The platform source: `fetch` to the identity provider and `caches.default` between isolates. */
export const platformJwksSource: JwksSource = {
  async fetchRemote(uri, timeoutMs) {
    // Redirects are not followed: a JWKS location that moves is a configuration change, not a hop.
    const response = await fetch(uri, {
      headers: { accept: "application/jwk-set+json, application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`status ${response.status}`);
    }
    return readCapped(response, MAX_JWKS_BYTES);
  },

  async readShared(uri) {
    const cached = await defaultCache().match(SHARED_CACHE_PREFIX + encodeURIComponent(uri));
    if (!cached) return undefined;
    const fetchedAt = Number(cached.headers.get(FETCHED_AT_HEADER));
    const text = await cached.text();
    return Number.isFinite(fetchedAt) ? { text, fetchedAt } : undefined;
  },

  async writeShared(uri, text, fetchedAt, maxAgeMs) {
    await defaultCache().put(
      SHARED_CACHE_PREFIX + encodeURIComponent(uri),
      new Response(text, {
        headers: {
          "content-type": "application/json",
          "cache-control": `max-age=${Math.max(1, Math.floor(maxAgeMs / 1000))}`,
          [FETCHED_AT_HEADER]: String(fetchedAt),
        },
      }),
    );
  },
};
