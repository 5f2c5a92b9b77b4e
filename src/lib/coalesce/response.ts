/**
 * Whether an upstream answer may be handed to callers other than the one it was made for. The
 * rules follow what RFC 9111 lets a shared cache store, applied to answers still in flight.
 */

export type Unshareable = "set-cookie" | "private" | "no-store" | "vary-star" | "partial";

/** Cache-Control directive names (RFC 9111 section 5.2), lower-case, without their arguments. */
function cacheDirectives(value: string): Set<string> {
  const names = new Set<string>();
  for (const part of value.split(",")) {
    const name = part.split("=")[0]?.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/** The field names a Vary header lists, lower-case; "*" when it varies on anything. */
export function varyNames(value: string | null): string[] {
  if (value === null) return [];
  const names: string[] = [];
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * Why an answer must go only to its own caller, or null when it may be shared. Set-Cookie belongs
 * to one client (RFC 6265 section 8.6 warns shared caches off it); `private` and `no-store` forbid a
 * shared copy (RFC 9111 sections 5.2.2.7 and 5.2.2.5); `Vary: *` says no two requests are alike; a
 * 206 answers one client's range.
 */
export function unshareableReason(status: number, headers: Headers): Unshareable | null {
  if (status === 206) return "partial";
  if (headers.has("set-cookie")) return "set-cookie";
  const cacheControl = headers.get("cache-control");
  if (cacheControl !== null) {
    const directives = cacheDirectives(cacheControl);
    if (directives.has("private")) return "private";
    if (directives.has("no-store")) return "no-store";
  }
  if (varyNames(headers.get("vary")).includes("*")) return "vary-star";
  return null;
}

/** The leader's values of the fields its answer varies on: a follower must match all of them. */
export type VaryValues = ReadonlyArray<readonly [name: string, value: string | null]>;

export function varyValues(names: readonly string[], request: Headers): VaryValues {
  return names.map((name) => [name, request.get(name)] as const);
}

/** True when `request` has the same value as the leader's for every field the answer varies on. */
export function matchesVary(values: VaryValues, request: Headers): boolean {
  for (const [name, value] of values) if (request.get(name) !== value) return false;
  return true;
}
