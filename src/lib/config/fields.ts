/**
 * The field rules every feature's config fragment is written with: numbers with units and bounds,
 * names, header and cookie names, outbound URLs, and the descriptions editors show. Pure: valibot
 * schemas and the messages users read.
 */
import * as v from "valibot";
import { isNonPublicHost } from "../address.ts";

/** What a deployment has that a config may name: checked where it is known (the gateway itself), skipped elsewhere (the CLI offline). */
export interface DeploymentFacts {
  /** The names of the deployment's bindings: secrets, vars, service and mTLS certificate bindings. */
  bindings: ReadonlySet<string>;
  /** Those of them that can send requests (service and mTLS certificate bindings: a `fetch` method). */
  fetchers: ReadonlySet<string>;
  /** The user policy modules bundled with it (policies/<name>.ts), and which ways each acts. */
  customPolicies: ReadonlyMap<string, { inbound: boolean; outbound: boolean }>;
}

/** Options that change what a valid config is; they come from the deployment, never the config. */
export interface ConfigValidationOptions {
  /** Dev flag: accept loopback, link-local and private literal upstream addresses. */
  allowPrivateUpstreams: boolean;
  /** What the deployment has; unset where it is not known, and what only it can answer is not checked. */
  deployment?: DeploymentFacts;
}

/** One validation problem: where in the document (e.g. `routes[2].match.path`) and why. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Adds an issue under a route's field path: `at(".auth.jwt")` is `routes[3].auth.jwt`. */
export type IssueAt = (suffix: string) => string;

/** Headers a client sets freely to pose as another address: a limit or split keyed on them is no limit. */
export const SPOOFABLE_ADDRESS_HEADERS: ReadonlySet<string> = new Set([
  "x-forwarded-for",
  "x-real-ip",
  "forwarded",
  "true-client-ip",
  "x-client-ip",
]);

export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const NAME_RULE = "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
/** RFC 9110 section 5.6.2 token, in either case: a field name as written (section 5.1). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 section 5.1 field-name token, lower-case. */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** RFC 6265 cookie-name token. */
export const COOKIE_NAME = TOKEN;

/**
 * `schema` with a description for users: what the field does, in what unit, and what unset means.
 * The config's JSON Schema (`npm run schema`) carries it, so editors show it on hover; the generator
 * adds the range and default the schema states. Describe the value, inside `v.optional(...)`.
 */
export function described<const TSchema extends v.GenericSchema>(schema: TSchema, text: string) {
  return v.pipe(schema, v.description<v.InferOutput<TSchema>, string>(text));
}

export const integer = (min: number, max: number) =>
  v.pipe(
    v.number("must be a number"),
    v.integer("must be an integer"),
    v.minValue(min, `must be >= ${min}`),
    v.maxValue(max, `must be <= ${max}`),
  );

export const durationMs = (max: number) => integer(1, max);

export const fraction = (min: number, max: number) =>
  v.pipe(
    v.number("must be a number"),
    v.finite("must be a finite number"),
    v.minValue(min, `must be >= ${min}`),
    v.maxValue(max, `must be <= ${max}`),
  );

export const percent = fraction(0, 100);

export const boolean = v.boolean("must be true or false");

/** A name of a cluster, provider or policy. */
export const name = v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE));

/**
 * A header field name in any case, lower-cased. Checked before lower-casing, so the JSON Schema's
 * pattern says what is accepted (and no non-ASCII letter whose lower case is ASCII, such as the
 * Kelvin sign, passes for a token).
 */
export const headerName = v.pipe(v.string("must be a string"), v.regex(TOKEN, "must be a header field name"), v.toLowerCase());

export const cookieName = v.pipe(v.string("must be a string"), v.regex(COOKIE_NAME, "must be a cookie name"));

/** Why an outbound URL is refused, or undefined when it is acceptable. */
export function outboundUrlProblem(raw: string, options: ConfigValidationOptions, kind: "upstream" | "jwks"): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (kind === "upstream" && url.protocol !== "http:" && url.protocol !== "https:") return "must use http or https";
  // Keys fetched over plain http could be swapped in transit: a JWKS is https outside development.
  if (kind === "jwks" && url.protocol !== "https:" && !(options.allowPrivateUpstreams && url.protocol === "http:")) {
    return "must use https (http only with ALLOW_PRIVATE_UPSTREAMS=true, for development)";
  }
  if (url.username || url.password) return "must not contain credentials";
  if (kind === "upstream" && (url.search || url.hash || raw.includes("?") || raw.includes("#"))) {
    return "must not contain a query or fragment";
  }
  if (!options.allowPrivateUpstreams && isNonPublicHost(url.hostname)) {
    return "points at a loopback, link-local or private address; these are refused unless the deployment sets ALLOW_PRIVATE_UPSTREAMS=true (development only)";
  }
  return undefined;
}

/** An outbound URL field, checked by `outboundUrlProblem`. */
export function outboundUrl(options: ConfigValidationOptions, kind: "upstream" | "jwks") {
  return v.pipe(
    v.string("must be a string"),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? outboundUrlProblem(dataset.value, options, kind) : undefined;
      if (problem) addIssue({ message: problem });
    }),
  );
}

/** A string field with a rule of its own: `problem` names what is wrong, or undefined. */
export function checkedString(problem: (value: string) => string | undefined) {
  return v.pipe(
    v.string("must be a string"),
    v.rawCheck(({ dataset, addIssue }) => {
      const found = dataset.typed ? problem(dataset.value) : undefined;
      if (found) addIssue({ message: found });
    }),
  );
}
