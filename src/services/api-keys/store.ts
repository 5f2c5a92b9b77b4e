/**
 * API keys in KV. Only a SHA-256 of each key is stored: the record lives under
 * `api-keys/sha256/<hex>` and repeats the hash, which the gateway compares in constant time before
 * trusting the record. The key itself is shown once, when it is created, and never stored.
 */
import * as v from "valibot";
import { sha256Hex } from "../../lib/digest.ts";

export const API_KEY_PREFIX = "api-keys/sha256/";

const recordSchema = v.object({
  hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  consumer: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  scopes: v.optional(v.array(v.string()), []),
  /** Optional key for per-consumer rate limits; the consumer name is used when absent. */
  rateLimitKey: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
  createdAt: v.optional(v.string()),
  /** ISO time after which the key is refused. */
  expiresAt: v.optional(v.pipe(v.string(), v.isoTimestamp())),
  disabled: v.optional(v.boolean(), false),
});

export type ApiKeyRecord = v.InferOutput<typeof recordSchema>;

/** The minimal KV surface, so the CLI can hand in the wrangler-backed one. */
export interface ApiKeyKv {
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Lower-case hex SHA-256 of a key, as stored. */
export async function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}

/** The record stored for `hash`, or undefined when there is none or it does not validate. */
export function parseApiKeyRecord(text: string | null): ApiKeyRecord | undefined {
  if (text === null) return undefined;
  try {
    const parsed = v.safeParse(recordSchema, JSON.parse(text));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}

/** Creates a key for `consumer`: returns the key (to hand over once) and stores only its hash. */
export async function createApiKey(
  kv: ApiKeyKv,
  options: { consumer: string; scopes?: string[]; rateLimitKey?: string; expiresAt?: string },
): Promise<{ key: string; record: ApiKeyRecord }> {
  const random = crypto.getRandomValues(new Uint8Array(32));
  const key = `egk_${btoa(String.fromCharCode(...random))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "")}`;
  const record = v.parse(recordSchema, {
    hash: await hashApiKey(key),
    consumer: options.consumer,
    scopes: options.scopes ?? [],
    ...(options.rateLimitKey ? { rateLimitKey: options.rateLimitKey } : {}),
    ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
    createdAt: new Date().toISOString(),
  });
  await kv.put(API_KEY_PREFIX + record.hash, JSON.stringify(record));
  return { key, record };
}

/** Deletes the record of a key, given the key itself or its hex hash. */
export async function revokeApiKey(kv: ApiKeyKv, keyOrHash: string): Promise<string> {
  const hash = /^[0-9a-f]{64}$/.test(keyOrHash) ? keyOrHash : await hashApiKey(keyOrHash);
  await kv.delete(API_KEY_PREFIX + hash);
  return hash;
}
