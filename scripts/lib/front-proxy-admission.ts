/**
 * What the dev stack's front door (front-proxy.ts) refuses before wrangler dev sees a request, as
 * Cloudflare's edge and the gateway would refuse it: framing a server must not guess at, request
 * targets and Host fields no Worker is handed, bodies the gateway takes on no GET, and Cloudflare's
 * own /cdn-cgi/ namespace. Pure: it reads the request head Node parsed and says what to do with it.
 */
import type { ProblemCode } from "../../src/errors.ts";
import { isAuthority } from "../../src/lib/request-target.ts";
import { ROUTE_METHODS } from "../../src/lib/routing/config.ts";

/** Why the front door refuses a request, as the gateway would answer it. */
export interface Refusal {
  code: ProblemCode;
  detail: string;
  headers?: Record<string, string>;
}

/** The request head as Node's parser handed it over. */
export interface RequestHead {
  method: string;
  /** The request target as sent. */
  target: string;
  /** `1.1`, `1.0`, or whatever other version the parser let through. */
  httpVersion: string;
  /** Field names and values alternately, as sent: case, order and repeats kept. */
  rawHeaders: readonly string[];
}

/** A request the front door forwards: the origin-form target and the Host it goes with. */
export interface Admitted {
  target: string;
  host: string;
}

/** What admitRequest decided: a refusal to answer, or the request to forward. */
export type Admission = { refusal: Refusal } | { admitted: Admitted };

/** A target no Worker is handed (asterisk-form, authority-form, CONNECT), as the gateway refuses it. */
export const ONLY_ORIGIN_FORM: Refusal = {
  code: "method-not-allowed",
  detail: "Only requests for a path are proxied (no asterisk-form or authority-form targets).",
  headers: { allow: ROUTE_METHODS.join(", ") },
};

const INVALID_HOST: Refusal = {
  code: "invalid-host",
  detail: "The request needs exactly one Host header holding a host name and an optional port.",
};

/** The platform's namespace: on Cloudflare no route of a Worker's can match it. */
const PLATFORM_NAMESPACE: Refusal = {
  code: "route-not-found",
  detail: "/cdn-cgi/ belongs to the platform and never reaches the gateway.",
};

/** Every value of the fields named `name` (lower case), in order. */
function fieldValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) values.push(rawHeaders[i + 1] ?? "");
  return values;
}

/**
 * RFC 9112 section 6: how the body is framed, refused where a server must not guess. Node's parser
 * already refuses Content-Length with Transfer-Encoding, repeated or malformed Content-Length and
 * chunked applied twice; these are checked again so that no parser leniency forwards them.
 */
function framingRefusal(head: RequestHead): Refusal | null {
  if (head.httpVersion !== "1.1" && head.httpVersion !== "1.0") {
    return { code: "bad-request", detail: `HTTP/${head.httpVersion} is not served here: only HTTP/1.1 and HTTP/1.0.` };
  }
  const transferEncoding = fieldValues(head.rawHeaders, "transfer-encoding");
  const contentLength = fieldValues(head.rawHeaders, "content-length");
  if (transferEncoding.length > 0) {
    // Section 6.1: Transfer-Encoding was added in HTTP/1.1; in an HTTP/1.0 message the framing is
    // faulty, and a 1.0 intermediary may have framed it by the connection's close instead.
    if (head.httpVersion === "1.0") {
      return { code: "bad-request", detail: "An HTTP/1.0 request cannot use Transfer-Encoding (RFC 9112 section 6.1)." };
    }
    if (contentLength.length > 0) {
      return { code: "bad-request", detail: "A request cannot have both Content-Length and Transfer-Encoding (RFC 9112 section 6.3)." };
    }
    // Section 6.3: chunked must be the final coding; no other coding is decoded here (or by the
    // runtime behind), so chunked alone is the only framing forwarded.
    if (transferEncoding.length !== 1 || transferEncoding[0]?.trim().toLowerCase() !== "chunked") {
      return { code: "bad-request", detail: "Transfer-Encoding must be chunked, once and alone." };
    }
  }
  if (contentLength.length > 1 || (contentLength.length === 1 && !/^\d+$/.test(contentLength[0]?.trim() ?? ""))) {
    return { code: "bad-request", detail: "The request needs at most one Content-Length holding a number of bytes." };
  }
  return null;
}

/**
 * The target as origin-form (RFC 9112 section 3.2): an absolute-form target becomes the
 * origin-form request it stands for, its authority replacing Host (section 3.2.2); asterisk-form
 * and authority-form targets are never handed to a Worker. Host must then be one valid authority.
 */
function targetAdmission(head: RequestHead): Admission {
  let target = head.target;
  let hostOverride: string | null = null;
  // Section 3.2: a fragment is never part of a request target; one here was not meant for a server.
  if (target.includes("#")) return { refusal: { code: "bad-request", detail: "The request target must not contain a fragment ('#')." } };
  if (/^https?:\/\//i.test(target)) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return { refusal: INVALID_HOST };
    }
    if (url.username !== "" || url.password !== "" || !isAuthority(url.host)) return { refusal: INVALID_HOST };
    target = `${url.pathname}${url.search}`;
    hostOverride = url.host;
  } else if (!target.startsWith("/")) {
    return { refusal: ONLY_ORIGIN_FORM };
  }
  const hosts = fieldValues(head.rawHeaders, "host");
  const host = hostOverride ?? hosts[0] ?? "";
  if (hosts.length !== 1 || !isAuthority(host)) return { refusal: INVALID_HOST };
  return { admitted: { target, host } };
}

/**
 * RFC 9110 section 10.1.1: 100-continue is the only expectation defined, and the front door answers
 * it once the request is admitted. Any other is refused rather than dropped: the client asked for something it will not get. (417
 * would say so more precisely; the gateway's vocabulary has no such code, and 400 is allowed.)
 */
function expectationRefusal(head: RequestHead): Refusal | null {
  for (const value of fieldValues(head.rawHeaders, "expect")) {
    for (const member of value.split(",")) {
      if (member.trim().toLowerCase() !== "100-continue") {
        return { code: "bad-request", detail: "The only expectation served is Expect: 100-continue." };
      }
    }
  }
  return null;
}

/**
 * As the gateway's match-route stage refuses it (RFC 9110 section 9.3.1): a GET or HEAD declaring
 * a body other than an empty one. wrangler dev drops such a body and forwards the rest, where the
 * deployed gateway answers 400, so the refusal is made here, before anything is forwarded.
 */
function bodyRefusal(head: RequestHead): Refusal | null {
  if (head.method !== "GET" && head.method !== "HEAD") return null;
  const declaresBody =
    fieldValues(head.rawHeaders, "transfer-encoding").length > 0 ||
    fieldValues(head.rawHeaders, "content-length").some((value) => Number(value.trim()) !== 0);
  return declaresBody ? { code: "body-not-allowed", detail: `A ${head.method} request must not have a body.` } : null;
}

/** Every percent-escape decoded, byte by byte; a malformed one is left as it is. */
function decodeEscapes(text: string): string {
  return text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * Whether a request target's path lies in Cloudflare's /cdn-cgi/ namespace in any spelling a
 * parser along the way could read as it. wrangler dev routes the exact spelling and whatever the
 * URL parser resolves to it (`/./cdn-cgi`, `/x/../cdn-cgi`, `/%2e/cdn-cgi`); the gateway's own path
 * normalization also merges `//` and decodes unreserved escapes (`/%63dn-cgi`), and other upstreams
 * read `\` as `/`, ignore case or drop `;parameters`. All of them are read as that namespace here:
 * no request a client meant for an API has its first segment spelt like it.
 */
export function isPlatformPath(target: string): boolean {
  const end = target.search(/[?#]/);
  let path = end === -1 ? target : target.slice(0, end);
  // Decoded until nothing changes: each pass shortens the text, so this ends.
  for (let decoded = decodeEscapes(path); decoded !== path; decoded = decodeEscapes(path)) path = decoded;
  // The WHATWG URL parser drops tabs and newlines anywhere in a URL, and reads "\" as "/" in http URLs.
  path = path.replace(/[\t\n\r]/g, "").replaceAll("\\", "/");
  const segments: string[] = [];
  for (const raw of path.split("/")) {
    const segment = (raw.split(";")[0] ?? "").trim().toLowerCase();
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return segments[0] === "cdn-cgi";
}

/** What the front door does with a request Node parsed: refuse it, or forward it as admitted. */
export function admitRequest(head: RequestHead): Admission {
  const framing = framingRefusal(head);
  if (framing !== null) return { refusal: framing };
  const target = targetAdmission(head);
  if ("refusal" in target) return target;
  const refusal = expectationRefusal(head) ?? bodyRefusal(head);
  if (refusal !== null) return { refusal };
  // On Cloudflare /cdn-cgi/ is the platform's and never reaches a Worker; under wrangler dev it is
  // wrangler's (its scheduled and email handlers, the Local Explorer's read-write KV API).
  if (isPlatformPath(target.admitted.target)) return { refusal: PLATFORM_NAMESPACE };
  return target;
}

/**
 * A request Node's parser refused, as the gateway answers its own 400s. `inBody`: the error came
 * while a body was being read, where the gateway says the body is incomplete (its framing broke).
 */
export function parseErrorRefusal(code: string | undefined, inBody: boolean): Refusal {
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { code: "request-timeout", detail: "The request did not arrive in time." };
    // 431 (RFC 6585) would be more precise; the gateway's vocabulary has no such code.
    case "HPE_HEADER_OVERFLOW":
      return { code: "bad-request", detail: "The request line and header fields are larger than this server accepts." };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return { code: "payload-too-large", detail: "The request's chunk extensions are larger than this server accepts." };
    default:
      return inBody
        ? { code: "incomplete-body", detail: "The request body's framing is malformed or it ended early." }
        : { code: "bad-request", detail: "The request is not valid HTTP/1.1." };
  }
}
