/**
 * The origins a `cors` policy allows, as written in its config and as matched against a request's
 * Origin header: an exact origin, every subdomain of a domain, or any origin. Pure.
 *
 * An origin is what the Fetch standard serializes (https://html.spec.whatwg.org/#ascii-serialisation-of-an-origin):
 * scheme "://" host [":" port], lower-case, the scheme's default port left out, an internationalized
 * host in its ASCII (punycode) form. Browsers send exactly that, so a configured origin is brought
 * to that form once and compared byte for byte: no request-time normalization a crafted Origin
 * could play with.
 */

/** One entry of `origins`, compiled. */
export type OriginRule =
  | { kind: "any" }
  | { kind: "exact"; origin: string }
  /** Every host with one or more labels in front of `suffix` (".example.com"), on that scheme and port. */
  | { kind: "subdomains"; scheme: "http" | "https"; suffix: string; port: string };

/** What a request's Origin is compared with: the entries of one policy, compiled. */
export interface OriginMatcher {
  any: boolean;
  exact: ReadonlySet<string>;
  subdomains: ReadonlyArray<Extract<OriginRule, { kind: "subdomains" }>>;
}

const SCHEME_AND_REST = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;

/** A dotted IPv4 address, or an IPv6 literal: no subdomains to speak of. */
const IP_LITERAL = /^(?:\d+(?:\.\d+){3}|\[.*\])$/;

/**
 * The labels a subdomain pattern's `*` stands for, as a browser serializes a host: letters, digits,
 * '-' and '_' (some hosts have it), dot-separated, none empty. Nothing else (no ':', '@', '/')
 * can be in them, so the suffix that follows is the host's own end, never part of a longer name.
 */
const SUBDOMAIN_LABELS = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

const FORM = "an origin is scheme://host[:port], as in https://app.example.com";

/** An entry of `origins` compiled, or why it is refused (the words users read). */
export function parseOriginRule(raw: string): OriginRule | { problem: string } {
  if (raw === "*") return { kind: "any" };
  if (raw.toLowerCase() === "null") {
    // Sandboxed frames, data: URLs and local files all send "null": any page can make one, so
    // allowing it allows everyone (and, with credentials, with the user's cookies).
    return { problem: "cannot allow the origin 'null': any page can send it (from a sandboxed frame or a data: URL)" };
  }
  const parts = SCHEME_AND_REST.exec(raw);
  if (parts === null) return { problem: `must be an origin: ${FORM}, a pattern like https://*.example.com, or '*'` };
  const scheme = (parts[1] as string).toLowerCase();
  const rest = parts[2] as string;
  if (scheme !== "http" && scheme !== "https") return { problem: "must use http or https" };
  const pathAt = rest.search(/[/?#]/);
  if (pathAt !== -1) {
    return { problem: `has a path, query or fragment, which an origin never has: write ${scheme}://${rest.slice(0, pathAt)}` };
  }
  if (rest.includes("@")) return { problem: `must not contain credentials: ${FORM}` };
  if (rest.startsWith("*.")) return subdomainRule(scheme, rest.slice(2));
  if (rest.includes("*")) {
    return { problem: "may use '*' only for the leading labels of a host, as in https://*.example.com (or alone, for any origin)" };
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${rest}`);
  } catch {
    return { problem: `is not a valid origin: ${FORM}` };
  }
  if (url.hostname === "") return { problem: `has no host: ${FORM}` };
  return { kind: "exact", origin: url.origin };
}

function subdomainRule(scheme: "http" | "https", hostAndPort: string): OriginRule | { problem: string } {
  if (hostAndPort.includes("*")) return { problem: "may have one '*', standing for the leading labels: https://*.example.com" };
  let url: URL;
  try {
    url = new URL(`${scheme}://${hostAndPort}`);
  } catch {
    return { problem: "is not a valid pattern: write https://*.example.com (and a port, if any, after the domain)" };
  }
  const host = url.hostname;
  if (IP_LITERAL.test(host)) return { problem: "needs a domain name after '*.', not an IP address" };
  if (!host.includes(".")) {
    return { problem: `would allow every site under '${host}': name a domain of your own after '*.', as in https://*.example.com` };
  }
  return { kind: "subdomains", scheme, suffix: `.${host}`, port: url.port };
}

/** Compiles the (valid) entries of `origins`. */
export function originMatcher(entries: readonly string[]): OriginMatcher {
  const exact = new Set<string>();
  const subdomains: Array<Extract<OriginRule, { kind: "subdomains" }>> = [];
  let any = false;
  for (const entry of entries) {
    const rule = parseOriginRule(entry);
    if ("problem" in rule) throw new Error(`cors: origin '${entry}' passed validation but does not parse: ${rule.problem}`);
    if (rule.kind === "any") any = true;
    else if (rule.kind === "exact") exact.add(rule.origin);
    else subdomains.push(rule);
  }
  return { any, exact, subdomains };
}

/** Whether a request's Origin header (as the browser sent it) is one the policy allows. */
export function originAllowed(matcher: OriginMatcher, origin: string): boolean {
  if (matcher.any || matcher.exact.has(origin)) return true;
  for (const rule of matcher.subdomains) {
    const prefix = `${rule.scheme}://`;
    if (!origin.startsWith(prefix)) continue;
    let host = origin.slice(prefix.length);
    if (rule.port !== "") {
      if (!host.endsWith(`:${rule.port}`)) continue;
      host = host.slice(0, host.length - rule.port.length - 1);
    }
    // The bare parent ("example.com") is not its own subdomain, and "evil-example.com" does not end
    // in ".example.com"; what is in front of the suffix must be whole labels and nothing else.
    if (host.length > rule.suffix.length && host.endsWith(rule.suffix) && SUBDOMAIN_LABELS.test(host.slice(0, -rule.suffix.length))) {
      return true;
    }
  }
  return false;
}
