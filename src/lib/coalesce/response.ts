/**
 * Whether an upstream answer may be handed to callers other than the one it was made for. The
 * rules follow what RFC 9111 lets a shared cache store, applied to answers still in flight. Vary is
 * judged on the request the upstream saw (the headers the gateway forwarded), never on the client's.
 */
import { foldedName } from "../headers.ts";

export type Unshareable = "set-cookie" | "private" | "no-store" | "vary-star" | "vary-per-request" | "partial" | "conditional";

/**
 * Fields the gateway sets anew on every request (a traceparent names the gateway's own span; a
 * request id is unique, or the client's own choice): an answer that varies on one fits no other
 * request, like `Vary: *`.
 */
const PER_REQUEST = new Set(["x-request-id", "traceparent"]);

/** Cache-Control directive names (RFC 9111 section 5.2), lower-case, without their arguments. */
function cacheDirectives(value: string): Set<string> {
  const names = new Set<string>();
  for (const part of value.split(",")) {
    const name = part.split("=")[0]?.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/**
 * The field names a Vary header lists (every Vary field, as Headers joins them), lower-case and
 * folded (`_` as `-`: CGI-style origins read X_User_Id as X-User-Id), each once; "*" when it varies
 * on anything.
 */
export function varyNames(value: string | null): string[] {
  if (value === null) return [];
  const names: string[] = [];
  for (const part of value.split(",")) {
    const name = foldedName(part.trim().toLowerCase());
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * Request fields that make the answer one client's own (RFC 9110 section 13: preconditions, and
 * section 14.2: Range): a 304, 412 or 206 answers what that client holds or asked for, never a
 * caller without them. Folded (`_` as `-`), as CGI-style origins read them.
 */
const ANSWER_SHAPING = new Set(["range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]);

/** The request field, in any spelling an origin reads as one, that makes its answer the client's alone; null when none does. */
export function answerShapingField(headers: Headers): string | null {
  for (const name of headers.keys()) {
    const folded = name.includes("_") ? foldedName(name) : name;
    if (ANSWER_SHAPING.has(folded)) return folded;
  }
  return null;
}

/**
 * Why an answer must go only to its own caller, or null when it may be shared. Set-Cookie belongs
 * to one client (RFC 6265 section 8.6 warns shared caches off it); `private` and `no-store` forbid a
 * shared copy (RFC 9111 sections 5.2.2.7 and 5.2.2.5); `Vary: *` says no two requests are alike; a
 * 206 answers one client's range, and a 304 or 412 one client's preconditions (requests with those
 * are never merged; an origin that answers them anyway is not believed).
 */
export function unshareableReason(status: number, headers: Headers): Unshareable | null {
  if (status === 206) return "partial";
  if (status === 304 || status === 412) return "conditional";
  if (headers.has("set-cookie")) return "set-cookie";
  const cacheControl = headers.get("cache-control");
  if (cacheControl !== null) {
    const directives = cacheDirectives(cacheControl);
    if (directives.has("private")) return "private";
    if (directives.has("no-store")) return "no-store";
  }
  const vary = varyNames(headers.get("vary"));
  if (vary.includes("*")) return "vary-star";
  if (vary.some((name) => PER_REQUEST.has(name))) return "vary-per-request";
  return null;
}

/**
 * The values of the fields an answer varies on, in a request the upstream received: a follower's
 * must equal the leader's, one by one. Each is every field an origin may read under that name
 * (any case, `_` or `-`), as "name: value" lines; null when there is none.
 */
export type VaryValues = ReadonlyArray<readonly [name: string, value: string | null]>;

/** `upstream` is the request as the upstream gets it (upstreamHeadersFor), not as the client sent it. */
export function varyValues(names: readonly string[], upstream: Headers): VaryValues {
  const folded = names.map(foldedName);
  const values: Array<string | null> = folded.map(() => null);
  for (const [name, value] of upstream) {
    const i = folded.indexOf(name.includes("_") ? foldedName(name) : name);
    if (i === -1) continue;
    const field = `${name}: ${value}`;
    values[i] = values[i] === null ? field : `${values[i]}\n${field}`;
  }
  return folded.map((name, i) => [name, values[i] ?? null] as const);
}

/** True when `upstream` (a follower's request as the upstream would get it) agrees with the leader's on every varied field. */
export function matchesVary(values: VaryValues, upstream: Headers): boolean {
  if (values.length === 0) return true;
  const own = varyValues(
    values.map(([name]) => name),
    upstream,
  );
  for (let i = 0; i < values.length; i++) if (own[i]?.[1] !== values[i]?.[1]) return false;
  return true;
}
