/**
 * The config's layout in KV: each published version under its own immutable key, and one pointer
 * key naming the current version. Writers put the version first and the pointer last, so a reader
 * never sees a pointer to a version that is not there yet.
 */

import type { ConfigIssue, ConfigValidationOptions } from "../lib/config/fields.ts";
import { sha256Hex } from "../lib/digest.ts";
import { type GatewayConfig, parseConfig } from "./schema.ts";

export const CONFIG_POINTER_KEY = "config/current";

/**
 * How long a location's KV cache may serve the pointer, in seconds: KV's minimum (its default is
 * 60). A write made elsewhere is seen in a location that cached the old pointer once this expires,
 * so it is the KV part of the bound docs/operations.md states on how fast a publish arrives. The
 * version documents are immutable and are read with KV's default.
 */
export const POINTER_CACHE_TTL_SECONDS = 30;

/** The KV key of one published config version. */
export function configVersionKey(version: string): string {
  return `config/versions/${version}`;
}

const VERSION = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The minimal KV surface the store needs, so scripts can hand it another implementation (one
 * without an edge cache ignores `cacheTtl`).
 */
export interface ConfigKv {
  get(key: string, options?: { cacheTtl?: number }): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
}

export type ConfigRead =
  | { kind: "unchanged"; version: string }
  | { kind: "missing" }
  | { kind: "invalid"; version: string; issues: ConfigIssue[] }
  | { kind: "loaded"; version: string; config: GatewayConfig };

/**
 * Reads the current config. When the pointer names a version `isKnown` accepts (asked after the
 * pointer is read, so the caller answers with what it holds then), the document is not fetched.
 */
export async function readCurrentConfig(
  kv: ConfigKv,
  options: ConfigValidationOptions,
  isKnown: (version: string) => boolean = () => false,
): Promise<ConfigRead> {
  const version = await readPointer(kv);
  if (!version) return { kind: "missing" };
  if (isKnown(version)) return { kind: "unchanged", version };
  if (!VERSION.test(version)) return { kind: "invalid", version, issues: [{ path: "(pointer)", message: "names a malformed version" }] };
  const text = await kv.get(configVersionKey(version));
  if (text === null)
    return { kind: "invalid", version, issues: [{ path: "(pointer)", message: `names version '${version}', which is not stored` }] };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { kind: "invalid", version, issues: [{ path: "(root)", message: "is not valid JSON" }] };
  }
  const parsed = parseConfig(document, options);
  return parsed.ok ? { kind: "loaded", version, config: parsed.config } : { kind: "invalid", version, issues: parsed.issues };
}

/** A new version id: sortable by time, unique by content hash. */
async function newConfigVersion(text: string, now: number = Date.now()): Promise<string> {
  const hash = await sha256Hex(text, 4);
  return `${new Date(now)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${hash}`;
}

/** The version the pointer names, or null when no config was ever published. */
export async function readPointer(kv: ConfigKv): Promise<string | null> {
  return (await kv.get(CONFIG_POINTER_KEY, { cacheTtl: POINTER_CACHE_TTL_SECONDS }))?.trim() || null;
}

/** One stored version's document as published (defaults not filled in); null when not stored. */
export async function readVersionDocument(kv: ConfigKv, version: string): Promise<unknown | null> {
  if (!VERSION.test(version)) return null;
  const text = await kv.get(configVersionKey(version));
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Writes a document as a new immutable version, without making it current. Validate it first. */
export async function storeVersion(kv: ConfigKv, document: unknown): Promise<string> {
  const text = JSON.stringify(document);
  const version = await newConfigVersion(text);
  await kv.put(configVersionKey(version), text);
  return version;
}

/** Makes `version` (already stored) the current one: what every isolate loads next. */
export async function pointTo(kv: ConfigKv, version: string): Promise<void> {
  await kv.put(CONFIG_POINTER_KEY, version);
}

export type PublishResult = { ok: true; version: string } | { ok: false; issues: ConfigIssue[] };

/**
 * Validates and publishes a config, version first and pointer last. An invalid config is refused
 * and KV is left untouched. No concurrency control: the admin API publishes through the
 * ConfigPublisher object, which serializes publishes and checks the expected version.
 */
export async function publishConfig(kv: ConfigKv, document: unknown, options: ConfigValidationOptions): Promise<PublishResult> {
  const parsed = parseConfig(document, options);
  if (!parsed.ok) return { ok: false, issues: parsed.issues };
  const version = await storeVersion(kv, document);
  await pointTo(kv, version);
  return { ok: true, version };
}
