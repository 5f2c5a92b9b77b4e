/**
 * Request-path normalization, done once per request so that the path the router matches is the
 * path the upstream receives (no parser differential between gateway and origin).
 */

/** Why a path was refused; the caller maps it to a 400. */
export type PathRejection = "encoded-slash" | "invalid-escape" | "nul-byte" | "backslash" | "dot-segment-parameter";

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: PathRejection };

const HEX = "0123456789ABCDEF";

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 65 && code <= 70) return code - 55; // A-F
  if (code >= 97 && code <= 102) return code - 87; // a-f
  return -1;
}

/** RFC 3986 section 2.3 unreserved characters: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    (code >= 48 && code <= 57) ||
    code === 45 ||
    code === 46 ||
    code === 95 ||
    code === 126
  );
}

/**
 * Decodes escapes of unreserved characters (RFC 3986 section 6.2.2.2) and upper-cases the hex of
 * the others. Encoded "/" and "\" are refused: decoding them would change the segment structure
 * and keeping them lets a client address a path the router never saw.
 */
function normalizeEscapes(path: string): NormalizedPath {
  let out = "";
  let last = 0;
  for (let i = path.indexOf("%"); i !== -1; i = path.indexOf("%", i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return { ok: false, reason: "invalid-escape" };
    const code = hi * 16 + lo;
    if (code === 0x2f || code === 0x5c) return { ok: false, reason: "encoded-slash" };
    if (code === 0) return { ok: false, reason: "nul-byte" };
    out += path.slice(last, i);
    out += isUnreserved(code) ? String.fromCharCode(code) : `%${HEX[hi]}${HEX[lo]}`;
    last = i + 3;
    i += 2;
  }
  return { ok: true, path: out + path.slice(last) };
}

/** RFC 3986 section 5.2.4 remove_dot_segments, on a path whose empty segments are already merged. */
function removeDotSegments(path: string): string {
  const input = path.split("/");
  const output: string[] = [];
  for (let i = 1; i < input.length; i++) {
    const segment = input[i] as string;
    if (segment === ".") {
      if (i === input.length - 1) output.push("");
    } else if (segment === "..") {
      output.pop();
      if (i === input.length - 1) output.push("");
    } else {
      output.push(segment);
    }
  }
  return `/${output.join("/")}`;
}

/** A segment that is a dot segment with path parameters (`..;x`, `.;`): servlet containers read it as `..` or `.`. */
const DOT_SEGMENT_PARAMETER = /(?:^|\/)\.{1,2};/;

/**
 * Normalizes a URL path: percent-decoding of unreserved characters only, repeated slashes merged,
 * dot segments removed. Refused, because an upstream would read the path differently from the
 * router: an encoded slash or backslash; a raw backslash (the runtime hands it to the Worker as it
 * came, and fetch() reads it as "/", resolving the dot segments around it); a dot segment with
 * path parameters (`/..;/`, which servlet containers resolve as `..`); malformed escapes and NUL.
 * The common case (nothing to do) returns the input without allocating.
 */
export function normalizePath(rawPath: string): NormalizedPath {
  let path = rawPath.startsWith("/") ? rawPath : `/${rawPath}`;
  if (path.includes("\\")) return { ok: false, reason: "backslash" };
  if (path.includes("%")) {
    const escaped = normalizeEscapes(path);
    if (!escaped.ok) return escaped;
    path = escaped.path;
  }
  if (path.includes("//")) path = path.replace(/\/{2,}/g, "/");
  if (path.includes(";") && DOT_SEGMENT_PARAMETER.test(path)) return { ok: false, reason: "dot-segment-parameter" };
  if (path.includes("/.")) path = removeDotSegments(path);
  return { ok: true, path };
}

/** The gateway's own namespace: its health and admin endpoints live here, and it is never proxied. */
export const RESERVED_NAMESPACE = "/__gateway";

const RESERVED_SEGMENT = RESERVED_NAMESPACE.slice(1);

/**
 * Whether a normalized path (or a route pattern) lies in the gateway's namespace: its first segment
 * is `__gateway`, compared without regard to case. The router is case-sensitive, but an origin may
 * not be, so every spelling of the namespace is kept away from origins and out of route configs.
 */
export function isReservedPath(path: string): boolean {
  const end = path.indexOf("/", 1);
  const first = end === -1 ? path.slice(1) : path.slice(1, end);
  return first.length === RESERVED_SEGMENT.length && first.toLowerCase() === RESERVED_SEGMENT;
}

/** Segment grammar accepted in route paths: a static pchar run, or a `:name` parameter. */
const STATIC_SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/;
const PARAM_SEGMENT = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a route path pattern: absolute, already normalized, static segments and `:param`
 * segments, and an optional trailing `/*` wildcard. Returns the reason it is invalid, or undefined.
 */
export function routePathProblem(pattern: string): string | undefined {
  if (!pattern.startsWith("/")) return "must start with '/'";
  if (pattern.length > 1024) return "must be at most 1024 characters";
  const body = pattern.endsWith("/*") ? pattern.slice(0, -2) : pattern;
  if (body === "" || body === "/") return undefined;
  const segments = body.slice(1).split("/");
  const params = new Set<string>();
  for (const [index, segment] of segments.entries()) {
    if (segment === "") {
      if (index === segments.length - 1) continue; // a trailing slash is a distinct, exact path
      return "must not contain empty segments ('//')";
    }
    if (segment === "." || segment === "..") return "must not contain '.' or '..' segments";
    if (segment.startsWith(":")) {
      if (!PARAM_SEGMENT.test(segment)) return `parameter '${segment}' must be ':' followed by a name`;
      if (params.has(segment)) return `parameter '${segment}' appears twice`;
      params.add(segment);
      continue;
    }
    if (segment.includes("*")) return "'*' is only allowed as a trailing '/*' wildcard";
    if (!STATIC_SEGMENT.test(segment)) return `segment '${segment}' has characters that must be percent-encoded`;
    const normalized = normalizePath(`/${segment}`);
    if (!normalized.ok || normalized.path !== `/${segment}`) return `segment '${segment}' is not in normalized form`;
  }
  return undefined;
}

/** The names of the `:param` segments of a route path pattern, in order. */
export function routePathParams(pattern: string): string[] {
  return pattern
    .split("/")
    .filter((segment) => segment.startsWith(":"))
    .map((segment) => segment.slice(1));
}

/** The literal prefix a trailing-wildcard pattern (`/api/*`) fixes, without the slash: `/api`. */
export function wildcardBase(pattern: string): string | undefined {
  return pattern.endsWith("/*") ? pattern.slice(0, -2) : undefined;
}
