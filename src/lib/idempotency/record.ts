/**
 * Idempotency keys (draft-ietf-httpapi-idempotency-key-header): what one key's record says and how
 * a request with the key is answered. Pure; the IdempotencyStore object keeps one record per key.
 *
 * A key is taken by the first request (in progress, with a lease so a request whose isolate died
 * does not hold it forever), then completed with the stored answer until its TTL, or released when
 * the first request failed in a way a retry may fix (a 5xx, the gateway's own error) or its answer
 * was too large to store.
 */

export interface StoredAnswer {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer;
}

export type KeyRecord =
  | { state: "in-progress"; fingerprint: string; leaseUntil: number; expiresAt: number }
  | { state: "completed"; fingerprint: string; answer: StoredAnswer; expiresAt: number };

export type Begin =
  /** The key is this request's: forward it. */
  | { kind: "first" }
  /** The same request is in flight: 409. */
  | { kind: "in-progress" }
  /** The key was used with a different request: 422. */
  | { kind: "mismatch" }
  | { kind: "replay"; answer: StoredAnswer };

/** What a request with the key gets, and the record after it. */
export function begin(
  record: KeyRecord | undefined,
  fingerprint: string,
  now: number,
  leaseMs: number,
  ttlMs: number,
): { outcome: Begin; record: KeyRecord | undefined } {
  const live = record !== undefined && record.expiresAt > now && !(record.state === "in-progress" && record.leaseUntil <= now);
  if (!live) {
    return { outcome: { kind: "first" }, record: { state: "in-progress", fingerprint, leaseUntil: now + leaseMs, expiresAt: now + ttlMs } };
  }
  if (record.fingerprint !== fingerprint) return { outcome: { kind: "mismatch" }, record };
  if (record.state === "in-progress") return { outcome: { kind: "in-progress" }, record };
  return { outcome: { kind: "replay", answer: record.answer }, record };
}

/** The record after the first request ended: completed with its answer, or released (undefined). */
export function complete(
  record: KeyRecord | undefined,
  fingerprint: string,
  answer: StoredAnswer | null,
  now: number,
  ttlMs: number,
): KeyRecord | undefined {
  // Only the request holding the key may complete it; a late finisher whose lease ran out may not.
  if (record === undefined || record.state !== "in-progress" || record.fingerprint !== fingerprint) return record;
  if (answer === null) return undefined;
  return { state: "completed", fingerprint, answer, expiresAt: now + ttlMs };
}

/**
 * The key from an Idempotency-Key field: a Structured Field String (`"..."`) per the draft, or, as
 * clients commonly send it, a bare token. Null when malformed (empty, too long, control characters).
 */
export function parseIdempotencyKey(field: string): string | null {
  let key = field.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1);
  if (key.length === 0 || key.length > 255 || !/^[\x20-\x7E]+$/.test(key)) return null;
  return key;
}
