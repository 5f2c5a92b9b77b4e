/**
 * The request line and Host as the runtime handed them over, checked before anything routes on
 * them. The runtime builds the request URL from the Host field, so a Host that is not an
 * authority (two fields joined by ", ", a space, a "/" or "@" or "?") would otherwise become part
 * of the path, the user info or the query of the URL the gateway matches. Pure; no I/O.
 */

/** Why a request's target or Host was refused; the caller maps each to its problem. */
export type TargetRejection = "invalid-host" | "not-origin-form";

/**
 * RFC 3986 section 3.2.2 reg-name restricted to what DNS names and the runtime accept: letters,
 * digits, "-", ".", "_", "~". Sub-delimiters and percent-escapes are valid URI syntax but never a
 * host name a client means, and "," is what two Host fields joined become.
 */
function isHostNameChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) || // a-z
    (code >= 65 && code <= 90) || // A-Z
    (code >= 48 && code <= 57) || // 0-9
    code === 45 || // -
    code === 46 || // .
    code === 95 || // _
    code === 126 // ~
  );
}

function isIPv6LiteralChar(code: number): boolean {
  return (code >= 48 && code <= 58) || (code >= 97 && code <= 102) || (code >= 65 && code <= 70) || code === 46; // 0-9 : a-f A-F .
}

/** Whether `text` is `host [":" port]` (RFC 9110 section 7.2): a host name, IPv4 or bracketed IPv6, a port of 1-5 digits up to 65535. */
export function isAuthority(text: string): boolean {
  const n = text.length;
  if (n === 0) return false;
  let i = 0;
  if (text.charCodeAt(0) === 91) {
    // [IPv6]
    const close = text.indexOf("]");
    if (close < 3) return false;
    for (i = 1; i < close; i++) if (!isIPv6LiteralChar(text.charCodeAt(i))) return false;
    i = close + 1;
  } else {
    while (i < n && isHostNameChar(text.charCodeAt(i))) i++;
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (text.charCodeAt(i) !== 58) return false; // ":"
  const port = text.slice(i + 1);
  if (port.length === 0 || port.length > 5) return false;
  for (let j = 0; j < port.length; j++) {
    const code = port.charCodeAt(j);
    if (code < 48 || code > 57) return false;
  }
  return Number(port) <= 65535;
}

/** The authority of a URL string as the runtime built it: from "//" to the first "/", "?" or "#". */
export function urlAuthority(url: string): string {
  const start = url.indexOf("//") + 2;
  let end = start;
  while (end < url.length) {
    const code = url.charCodeAt(end);
    if (code === 47 || code === 63 || code === 35) break; // / ? #
    end++;
  }
  return url.slice(start, end);
}

/**
 * Checks a request's URL (as the runtime built it; `authority` is its urlAuthority) against its
 * Host field (null where the platform passes none). Origin-form targets only (RFC 9112 section
 * 3.2.1): an asterisk-form target (`OPTIONS *`) reaches a Worker as the authority followed by "*"
 * and no path.
 */
export function requestTargetProblem(url: string, authority: string, host: string | null): TargetRejection | null {
  const end = url.indexOf("//") + 2 + authority.length;
  if (host !== null && authority !== host && authority.toLowerCase() !== host.toLowerCase()) {
    if (end === url.length && authority.toLowerCase() === `${host.toLowerCase()}*` && isAuthority(host)) return "not-origin-form";
    return "invalid-host";
  }
  if (!isAuthority(authority)) return "invalid-host";
  // A request target is a path: "?" or "#" straight after the authority means there was none.
  if (end < url.length && url.charCodeAt(end) !== 47) return "not-origin-form";
  return null;
}
