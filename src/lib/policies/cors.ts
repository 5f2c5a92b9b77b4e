/**
 * `cors`: the gateway speaks the CORS protocol of the Fetch standard
 * (https://fetch.spec.whatwg.org/#http-cors-protocol) for a route, so browsers on other origins can
 * call it. Acts early, before authentication and rate limiting: a preflight carries no credentials
 * (Fetch, CORS-preflight request), so a route that asked it for one would fail every browser.
 *
 * - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, 204, and
 *   never reaches the upstream. An allowed origin gets the policy's lists whatever it asked for, so
 *   the browser's own check decides and its console names the exact method or header refused; a
 *   disallowed origin gets no CORS fields at all.
 * - Any other request goes on; the response it gets (the upstream's, or the gateway's own 401, 429
 *   or 5xx, which a page must be able to read) has the upstream's Access-Control-* fields removed and,
 *   for an allowed origin, the policy's set: the gateway owns CORS on the route.
 * Decisions and their reasons: docs/policies/cors.md.
 */
import * as v from "valibot";
import { boolean, checkedString, described, headerName, integer, TOKEN } from "../config/fields.ts";
import type { HeaderPairs } from "../headers.ts";
import { ROUTE_METHODS } from "../routing/config.ts";
import { type OriginMatcher, originAllowed, originMatcher, parseOriginRule } from "./cors-origin.ts";
import { builtinPolicy, type InboundOutcome } from "./types.ts";

/**
 * Response fields the gateway itself sets, always exposed to an allowed origin's scripts: a page
 * must be able to read why it was refused (WWW-Authenticate's error="invalid_token" says refresh,
 * RFC 6750 section 3), when to retry (Retry-After, RateLimit) and which request to quote (the id).
 */
export const GATEWAY_EXPOSED_HEADERS = ["x-request-id", "www-authenticate", "retry-after", "ratelimit", "ratelimit-policy"] as const;

/** What a preflight's answer varies on (Fetch, "CORS protocol and HTTP caches"). */
const PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

const originEntry = v.pipe(
  checkedString((raw) => {
    const rule = parseOriginRule(raw);
    return "problem" in rule ? rule.problem : undefined;
  }),
  v.examples(["https://app.example.com", "https://*.example.com", "http://localhost:3000", "*"]),
);

const fieldList = (what: string) =>
  v.pipe(v.array(headerName, `must be an array of ${what}`), v.maxLength(64, "must have at most 64 names"));

const fields = v.strictObject({
  origins: described(
    v.pipe(
      v.array(originEntry, "must be an array of origins"),
      v.minLength(1, "must name at least one origin"),
      v.maxLength(256, "must have at most 256 origins"),
    ),
    "Origins allowed to call the route from a browser: exact origins (https://app.example.com, scheme://host[:port], no path), subdomain patterns (https://*.example.com: one or more labels in front of example.com, never example.com itself), or '*' alone for any origin (not with credentials).",
  ),
  methods: v.optional(
    described(
      v.pipe(
        v.array(v.picklist(ROUTE_METHODS, `must be one of: ${ROUTE_METHODS.join(", ")}`), "must be an array of methods"),
        v.minLength(1, "must not be empty"),
      ),
      "Methods a preflight allows (Access-Control-Allow-Methods). Browsers allow GET, HEAD and POST whatever it says. Unset: every method the gateway proxies; the route's own match.methods still decide what it serves.",
    ),
  ),
  headers: v.optional(
    described(
      fieldList("header names"),
      "Request headers a preflight allows (Access-Control-Allow-Headers), beyond the CORS-safelisted ones browsers send freely. '*': any header except Authorization, which must be named (as the Fetch standard's wildcard does).",
    ),
    [],
  ),
  exposeHeaders: v.optional(
    described(
      fieldList("header names"),
      "Response headers the page's scripts may read (Access-Control-Expose-Headers), beyond the safelisted ones and the gateway's own (x-request-id, www-authenticate, retry-after, ratelimit, ratelimit-policy), which are always exposed. '*': every header of the response.",
    ),
    [],
  ),
  credentials: v.optional(
    described(
      boolean,
      "Whether pages may send cookies or HTTP authentication and read the answer (Access-Control-Allow-Credentials: true). Not with origins '*'.",
    ),
    false,
  ),
  maxAgeSec: v.optional(
    described(
      integer(0, 86_400),
      "How long a browser may reuse a preflight's answer, in seconds (Access-Control-Max-Age; Chromium caps it at 7200, Firefox at 86400). 0: ask every time.",
    ),
    600,
  ),
});

type CorsFields = v.InferOutput<typeof fields>;

/** An issue path to one field of the options object, for the checks across fields. */
function at(input: CorsFields, key: keyof CorsFields): [v.ObjectPathItem] {
  return [{ type: "object", origin: "value", input, key, value: input[key] }];
}

const options = v.pipe(
  fields,
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const config = dataset.value;
    if (!config.origins.includes("*")) return;
    if (config.origins.length > 1) {
      addIssue({ message: "lists '*', which allows every origin: list it alone", path: at(config, "origins") });
    }
    // Fetch refuses Access-Control-Allow-Origin: * on a credentialed request; echoing every origin
    // instead would let any site on the web act as the signed-in user and read the answers.
    if (config.credentials) {
      addIssue({
        message: "cannot be true with origins '*': that would let every site act as the signed-in user; list the origins instead",
        path: at(config, "credentials"),
      });
    }
  }),
);

export type CorsOptions = v.InferOutput<typeof options>;

/** A policy's options, compiled: the matcher and the fixed field values, built once. */
export interface CorsRules {
  origins: OriginMatcher;
  credentials: boolean;
  /** Access-Control-Allow-Methods. */
  allowMethods: readonly string[];
  allowMethodsValue: string;
  /** Named request headers allowed, lower-case. */
  allowHeaders: ReadonlySet<string>;
  /** '*' was listed: any request header but Authorization (unless named). */
  anyHeader: boolean;
  /** Access-Control-Allow-Headers when it does not depend on the request (no '*'); null: none. */
  allowHeadersValue: string | null;
  /** '*' was listed: every field of the response is exposed. */
  exposeAll: boolean;
  /** The gateway's own headers and the listed ones. */
  exposeHeaders: readonly string[];
  exposeHeadersValue: string;
  maxAgeValue: string;
}

/** Compiles a policy's (valid) options, once. */
export function corsRules(config: CorsOptions): CorsRules {
  const allowMethods = [...new Set(config.methods ?? ROUTE_METHODS)];
  const named = config.headers.filter((name) => name !== "*");
  const exposeHeaders = [...new Set([...GATEWAY_EXPOSED_HEADERS, ...config.exposeHeaders.filter((name) => name !== "*")])];
  return {
    origins: originMatcher(config.origins),
    credentials: config.credentials,
    allowMethods,
    allowMethodsValue: allowMethods.join(", "),
    allowHeaders: new Set(named),
    anyHeader: config.headers.includes("*"),
    allowHeadersValue: named.length > 0 ? [...new Set(named)].join(", ") : null,
    exposeAll: config.exposeHeaders.includes("*"),
    exposeHeaders,
    exposeHeadersValue: exposeHeaders.join(", "),
    maxAgeValue: String(config.maxAgeSec),
  };
}

/** The field names of Access-Control-Request-Headers (browsers send them lower-case, comma-separated). */
function requestedHeaders(value: string | null): string[] {
  if (value === null) return [];
  const names: string[] = [];
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name !== "" && !names.includes(name)) names.push(name);
  }
  return names;
}

/** Whether a request header a preflight asks for is allowed: by name, or by '*' (never Authorization, as in Fetch). */
function headerAllowed(rules: CorsRules, name: string): boolean {
  if (!TOKEN.test(name)) return false;
  return rules.allowHeaders.has(name) || (rules.anyHeader && name !== "authorization");
}

/**
 * The answer to a preflight: whether the browser will let the request go, and the fields.
 * `origin`, `method` and `headers` are the request's Origin, Access-Control-Request-Method and
 * Access-Control-Request-Headers.
 */
export function preflightAnswer(
  rules: CorsRules,
  origin: string,
  method: string,
  headers: string | null,
): { allowed: boolean; fields: HeaderPairs } {
  const fields: HeaderPairs = [["vary", PREFLIGHT_VARY]];
  if (!originAllowed(rules.origins, origin)) return { allowed: false, fields };
  const asked = requestedHeaders(headers);
  let allowed = rules.allowMethods.includes(method);
  let allowHeaders = rules.allowHeadersValue;
  if (rules.anyHeader) {
    // The allowed ones of those asked for, named: a literal '*' would count for nothing on a
    // credentialed request (Fetch, Access-Control-Allow-Headers), and never covers Authorization.
    const granted = asked.filter((name) => headerAllowed(rules, name));
    allowHeaders = granted.length > 0 ? granted.join(", ") : null;
  }
  for (const name of asked) if (!headerAllowed(rules, name)) allowed = false;
  // The same lists whether or not this request fits them: the browser checks, and says which
  // method or header it refused; an origin that may ask learns nothing it could not ask for.
  fields.push(["access-control-allow-origin", rules.origins.any ? "*" : origin]);
  if (rules.credentials) fields.push(["access-control-allow-credentials", "true"]);
  fields.push(["access-control-allow-methods", rules.allowMethodsValue]);
  if (allowHeaders !== null) fields.push(["access-control-allow-headers", allowHeaders]);
  fields.push(["access-control-max-age", rules.maxAgeValue]);
  return { allowed, fields };
}

/** Removes the upstream's CORS fields: on a route with a cors policy, the gateway's are the only ones. */
function removeUpstreamCors(headers: Headers): void {
  const names: string[] = [];
  for (const name of headers.keys()) if (name.startsWith("access-control-")) names.push(name);
  for (const name of names) headers.delete(name);
}

/** Adds `Origin` to the response's Vary, keeping what the upstream listed (RFC 9110 section 12.5.5). */
function varyOnOrigin(headers: Headers): void {
  const vary = headers.get("vary");
  if (vary === null) {
    headers.set("vary", "Origin");
    return;
  }
  const names = vary.split(",").map((name) => name.trim().toLowerCase());
  if (names.includes("*") || names.includes("origin")) return;
  headers.set("vary", `${vary}, Origin`);
}

/** Access-Control-Expose-Headers of a response: with '*', the fields it has (browsers never expose Set-Cookie anyway). */
function exposed(rules: CorsRules, headers: Headers): string {
  if (!rules.exposeAll) return rules.exposeHeadersValue;
  const names = new Set<string>(rules.exposeHeaders);
  for (const name of headers.keys()) if (name !== "set-cookie" && !name.startsWith("access-control-")) names.add(name);
  return [...names].join(", ");
}

/** The response edit for an allowed origin: the policy's fields in place of the upstream's. */
export function allowedEdit(rules: CorsRules, origin: string): (headers: Headers) => void {
  return function corsAllowed(headers) {
    removeUpstreamCors(headers);
    headers.set("access-control-allow-origin", rules.origins.any ? "*" : origin);
    if (rules.credentials) headers.set("access-control-allow-credentials", "true");
    headers.set("access-control-expose-headers", exposed(rules, headers));
    // With '*' the answer is the same for every origin and needs no Vary (Fetch, "CORS protocol
    // and HTTP caches"); otherwise a cache must not hand one origin's answer to another.
    if (!rules.origins.any) varyOnOrigin(headers);
  };
}

/** The response edit when no CORS fields are due (no or a disallowed Origin): the upstream's go, and the answer varies on Origin. */
function withoutCors(headers: Headers): void {
  removeUpstreamCors(headers);
  varyOnOrigin(headers);
}

/**
 * The inbound step of a policy: answers a preflight, or says how to edit the response to any other
 * request. Decisions: preflight, preflight-refused, allowed, not-allowed, no-origin.
 */
export function corsStep(rules: CorsRules): (request: Request, requestId: string) => InboundOutcome {
  // With '*' the edit is the same for every request: built once.
  const anyOrigin = rules.origins.any ? allowedEdit(rules, "*") : null;
  return function cors(request, requestId) {
    const origin = request.headers.get("origin");
    const requestMethod = request.headers.get("access-control-request-method");
    if (request.method === "OPTIONS" && origin !== null && requestMethod !== null) {
      const { allowed, fields } = preflightAnswer(rules, origin, requestMethod, request.headers.get("access-control-request-headers"));
      fields.push(["x-request-id", requestId]);
      // 204 either way: a browser gives a page nothing of a failed preflight but a network error,
      // whatever its status, and its console then names the missing or refused field.
      const response = new Response(null, { status: 204, headers: fields });
      return { kind: "respond", decision: allowed ? "preflight" : "preflight-refused", response };
    }
    if (anyOrigin !== null) return { kind: "continue", decision: origin === null ? "no-origin" : "allowed", editResponse: anyOrigin };
    if (origin === null) return { kind: "continue", decision: "no-origin", editResponse: withoutCors };
    if (!originAllowed(rules.origins, origin)) return { kind: "continue", decision: "not-allowed", editResponse: withoutCors };
    return { kind: "continue", decision: "allowed", editResponse: allowedEdit(rules, origin) };
  };
}

export const cors = builtinPolicy({
  use: "cors",
  description:
    "Lets browsers on other origins call the route (CORS): answers preflights before authentication and rate limiting, and sets the CORS fields on every answer to an allowed origin, the gateway's errors included.",
  options,
  directions: () => ({ inbound: "early", outbound: false }),
  bindings: () => [],
  compile(_name, config) {
    const step = corsStep(corsRules(config));
    return { inbound: ({ request, requestId }) => step(request, requestId), outbound: null };
  },
});
