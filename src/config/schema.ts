/**
 * The gateway configuration schema: the single source of the config's TypeScript types. Everything
 * that reads a config (the Worker on load, the CLI and admin API on write) validates through
 * `parseConfig`, so a config is judged the same way everywhere.
 */
import * as v from "valibot";
import { isNonPublicHost } from "../lib/address.ts";
import { isReservedPath, RESERVED_NAMESPACE, routePathParams, routePathProblem, wildcardBase } from "../lib/path.ts";

/** Options that change what a valid config is; they come from the deployment, never the config. */
export interface ConfigValidationOptions {
  /** Dev flag: accept loopback, link-local and private literal upstream addresses. */
  allowPrivateUpstreams: boolean;
}

/** Methods a route may name. TRACE and CONNECT are never proxied (RFC 9110 section 9.3.6, 9.3.8). */
export const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** Failures a retry policy may retry on. */
export const RETRY_ON = ["connect-failure", "timeout", "gateway-error", "5xx"] as const;

export const LOAD_BALANCING_POLICIES = ["weighted-round-robin", "least-in-flight"] as const;

export const RATE_LIMIT_ALGORITHMS = ["fixed-window", "sliding-window", "token-bucket"] as const;
export const RATE_LIMIT_BACKENDS = ["durable-object", "upstash"] as const;
export const RATE_LIMIT_MODES = ["exact", "local-first"] as const;

/** Headers a client sets freely to pose as another address: a limit keyed on them is no limit. */
const SPOOFABLE_ADDRESS_HEADERS = new Set(["x-forwarded-for", "x-real-ip", "forwarded", "true-client-ip", "x-client-ip"]);

/**
 * Signature algorithms a JWT provider may allow. Only asymmetric ones: a JWKS publishes public keys,
 * and an HMAC "verified" with a public key is the classic algorithm-confusion forgery.
 */
export const JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"] as const;

/** Headers a claim may not be forwarded into: the ones the gateway or HTTP framing owns. */
const RESERVED_CLAIM_HEADERS = new Set([
  "host",
  "authorization",
  "cookie",
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "te",
  "upgrade",
  "forwarded",
  "x-real-ip",
  "x-request-id",
  "traceparent",
  "tracestate",
]);

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NAME_RULE = "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
const HOST_PATTERN = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** RFC 9110 section 5.1 field-name token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

const integer = (min: number, max: number) =>
  v.pipe(
    v.number("must be a number"),
    v.integer("must be an integer"),
    v.minValue(min, `must be >= ${min}`),
    v.maxValue(max, `must be <= ${max}`),
  );

const durationMs = (max: number) => integer(1, max);

const fraction = (min: number, max: number) =>
  v.pipe(
    v.number("must be a number"),
    v.finite("must be a finite number"),
    v.minValue(min, `must be >= ${min}`),
    v.maxValue(max, `must be <= ${max}`),
  );

/** Why an outbound URL is refused, or undefined when it is acceptable. */
function outboundUrlProblem(raw: string, options: ConfigValidationOptions, kind: "upstream" | "jwks"): string | undefined {
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

const oneOrMore = (message: string) =>
  v.union(
    [
      v.pipe(v.string(), v.minLength(1, message)),
      v.pipe(v.array(v.pipe(v.string(), v.minLength(1, message))), v.minLength(1, "must not be empty")),
    ],
    "must be a string or a non-empty array of strings",
  );

const headerName = v.pipe(v.string("must be a string"), v.toLowerCase(), v.regex(HEADER_NAME, "must be a header field name"));

function createSchema(options: ConfigValidationOptions) {
  const targetSchema = v.strictObject({
    url: v.pipe(
      v.string("must be a string"),
      v.rawCheck(({ dataset, addIssue }) => {
        const problem = dataset.typed ? outboundUrlProblem(dataset.value, options, "upstream") : undefined;
        if (problem) addIssue({ message: problem });
      }),
    ),
    weight: v.optional(integer(1, 1000), 1),
  });

  // Defaults and their reasoning: docs/circuit-breaking.md.
  const breakerSchema = v.strictObject({
    failureWeight: v.optional(fraction(0, 1), 0.6),
    latencyWeight: v.optional(fraction(0, 1), 0.4),
    /** Score at or above which a target is ejected. */
    threshold: v.optional(fraction(0.01, 10), 0.7),
    /** Fixed p99 baseline; unset compares each target with the median p99 of the others. */
    latencyBaselineMs: v.optional(durationMs(600_000)),
    latencyFloorMs: v.optional(durationMs(60_000), 25),
    maxLatencyRatio: v.optional(fraction(1, 100), 4),
    /** Half-life of the decayed failure counts and smoothed p99. */
    halfLifeSec: v.optional(integer(1, 600), 5),
    /** Decayed request volume a target needs before it is judged. */
    minRequests: v.optional(integer(1, 1_000_000), 20),
    baseEjectionSec: v.optional(integer(1, 3_600), 10),
    maxEjectionSec: v.optional(integer(1, 86_400), 300),
    /** Each ejection lasts up to this fraction longer, at random. */
    ejectionJitter: v.optional(fraction(0, 1), 0.2),
    maxEjectionPercent: v.optional(integer(0, 100), 50),
    /** Probes in flight at once to a half-open target, across all isolates. */
    probes: v.optional(integer(1, 100), 3),
    /** Successful probes that close a half-open target. */
    probeSuccesses: v.optional(integer(1, 100), 3),
    /** How often an isolate ships outcomes to the object and refreshes its view (while it has traffic). */
    reportIntervalMs: v.optional(integer(100, 60_000), 1_000),
    /** ... or sooner, once it has this many outcomes to ship. */
    reportEveryRequests: v.optional(integer(1, 1_000_000), 1_000),
    /** A report not answered within this counts as the object being unreachable. */
    objectTimeoutMs: v.optional(durationMs(10_000), 1_000),
  });

  const clusterSchema = v.strictObject({
    targets: v.pipe(
      v.array(targetSchema, "must be an array"),
      v.minLength(1, "must have at least one target"),
      v.maxLength(64, "must have at most 64 targets"),
    ),
    loadBalancing: v.optional(
      v.picklist(LOAD_BALANCING_POLICIES, `must be one of: ${LOAD_BALANCING_POLICIES.join(", ")}`),
      "weighted-round-robin",
    ),
    /** Per attempt, until the upstream's response headers arrive. */
    connectTimeoutMs: v.optional(durationMs(300_000), 5_000),
    /** Per attempt, until the whole response body has been received; unset streams without limit. */
    responseTimeoutMs: v.optional(durationMs(3_600_000)),
    /** Per isolate: requests to this cluster awaiting their response headers; more are refused with 503. */
    maxInFlight: v.optional(integer(1, 1_000_000)),
    /** Per isolate and target: a target at this many is skipped; when every target is, the request gets 503. */
    maxInFlightPerTarget: v.optional(integer(1, 1_000_000)),
    /** Circuit breaking and outlier ejection, shared across isolates through one Durable Object per cluster. */
    breaker: v.optional(breakerSchema),
  });

  const routePath = v.pipe(
    v.string("must be a string"),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? routePathProblem(dataset.value) : undefined;
      if (problem) addIssue({ message: problem });
    }),
  );

  /** A route's own path: it may not claim the gateway's namespace (a rewrite's upstream path may). */
  const matchPath = v.pipe(
    routePath,
    v.rawCheck(({ dataset, addIssue }) => {
      if (dataset.typed && isReservedPath(dataset.value)) {
        addIssue({ message: `is in the gateway's own namespace (${RESERVED_NAMESPACE}), which is never proxied` });
      }
    }),
  );

  const literalPath = v.pipe(
    v.string("must be a string"),
    v.regex(/^\/(?:[A-Za-z0-9\-._~!$&'()+,;=:@/]|%[0-9A-F]{2})*$/, "must be a path starting with '/' with no wildcard or parameters"),
  );

  const jwtProviderSchema = v.strictObject({
    /** Accepted `iss` values. */
    issuer: oneOrMore("must not be empty"),
    /** Accepted `aud` values; the token must name at least one. Required: without it any token of the issuer would pass. */
    audience: oneOrMore("must not be empty"),
    jwksUri: v.pipe(
      v.string("must be a string"),
      v.rawCheck(({ dataset, addIssue }) => {
        const problem = dataset.typed ? outboundUrlProblem(dataset.value, options, "jwks") : undefined;
        if (problem) addIssue({ message: problem });
      }),
    ),
    algorithms: v.optional(
      v.pipe(
        v.array(
          v.pipe(
            v.string("must be a string"),
            v.rawCheck(({ dataset, addIssue }) => {
              if (!dataset.typed) return;
              if (/^(?:HS\d+|none)$/i.test(dataset.value)) {
                addIssue({ message: "is refused: 'none' and HMAC algorithms cannot be verified against a JWKS of public keys" });
              } else if (!(JWT_ALGORITHMS as readonly string[]).includes(dataset.value)) {
                addIssue({ message: `must be one of: ${JWT_ALGORITHMS.join(", ")}` });
              }
            }),
            v.transform((alg) => alg as JwtAlgorithm),
          ),
        ),
        v.minLength(1, "must not be empty"),
      ),
      ["RS256", "ES256", "EdDSA"],
    ),
    /** Claims that must be present besides `exp`, which is always required. */
    requiredClaims: v.optional(v.array(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"))), []),
    /** Allowed clock skew for exp, nbf and iat, in seconds. */
    clockToleranceSec: v.optional(integer(0, 300), 30),
    /** When set, the JOSE header `typ` must match (e.g. "at+jwt" for RFC 9068 access tokens). */
    typ: v.optional(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"))),
    /** Longer tokens are rejected before any parsing. */
    maxTokenBytes: v.optional(integer(256, 65_536), 8_192),
    jwks: v.optional(
      v.strictObject({
        /** Keys younger than this are used without asking the identity provider. */
        cacheMaxAgeSec: v.optional(integer(1, 86_400), 600),
        /** Minimum time between two fetches of the JWKS, successful or not. */
        cooldownSec: v.optional(integer(0, 3_600), 30),
        /** How long past cacheMaxAgeSec the last good keys keep serving while the JWKS cannot be fetched. */
        maxStaleSec: v.optional(integer(0, 7 * 86_400), 86_400),
        timeoutMs: v.optional(durationMs(30_000), 3_000),
      }),
      {},
    ),
    /** Verified tokens remembered per isolate (by SHA-256 of the token); 0 turns the cache off. */
    tokenCacheSize: v.optional(integer(0, 100_000), 10_000),
  });

  const authSchema = v.strictObject({
    /** Name of a provider in `jwtProviders`. */
    jwt: v.optional(v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE))),
    /** Where the JWT comes from; the Authorization header (Bearer scheme) unless set. At most one source. */
    token: v.optional(
      v.pipe(
        v.strictObject({
          header: v.optional(headerName),
          cookie: v.optional(v.pipe(v.string("must be a string"), v.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, "must be a cookie name"))),
          /** The query string is a last resort: URLs end up in logs. A route must opt in by naming the parameter. */
          query: v.optional(v.pipe(v.string("must be a string"), v.regex(/^[A-Za-z0-9._~-]{1,64}$/, "must be a query parameter name"))),
        }),
        v.check((t) => Object.keys(t).length === 1, "must name exactly one of header, cookie or query"),
      ),
    ),
    apiKey: v.optional(
      v.strictObject({
        /** The header carrying the key. */
        header: v.optional(headerName, "x-api-key"),
        /** How long an isolate trusts a key record (and a known-bad key) before reading KV again. */
        cacheTtlSec: v.optional(integer(1, 3_600), 60),
      }),
    ),
    /** Scopes the caller must hold, all of them (`scope` claim, space-separated, or `scp` array). */
    scopes: v.optional(v.array(v.pipe(v.string("must be a string"), v.regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "must be a scope token"))), []),
    /** Claim name -> upstream header. Client-sent headers of those names are always removed. */
    claimHeaders: v.optional(
      v.record(
        v.pipe(v.string(), v.minLength(1, "claim names must not be empty")),
        v.pipe(
          headerName,
          v.check(
            // Folded as CGI-style origins read names: x_request_id would arrive as X-Request-Id.
            (name) => {
              const folded = name.replaceAll("_", "-");
              return !RESERVED_CLAIM_HEADERS.has(folded) && !folded.startsWith("x-forwarded-") && !folded.startsWith("proxy-");
            },
            "is a header the gateway owns",
          ),
        ),
        "must be an object of claim name to header name",
      ),
      {},
    ),
    /** Whether the credential (Authorization, the token header or cookie parameter, the API-key header) reaches the upstream. */
    forwardCredentials: v.optional(v.boolean("must be true or false"), false),
  });

  /** One part of a rate-limit key: `ip`, `subject`, `consumer`, `header:<name>` or `claim:<name>`. */
  const rateLimitKeyPart = v.pipe(
    v.string("must be a string"),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const part = dataset.value;
      if (part === "ip" || part === "subject" || part === "consumer") return;
      if (part.startsWith("header:")) {
        const name = part.slice(7);
        if (!HEADER_NAME.test(name)) addIssue({ message: "must name a lower-case header field, as in 'header:x-tenant'" });
        else if (SPOOFABLE_ADDRESS_HEADERS.has(name)) {
          addIssue({ message: `keys on '${name}', which any client can set; use 'ip' (the connecting address) instead` });
        }
        return;
      }
      if (part.startsWith("claim:")) {
        if (!/^[\x21-\x7E]{1,128}$/.test(part.slice(6))) addIssue({ message: "must name a claim, as in 'claim:org_id'" });
        return;
      }
      addIssue({ message: "must be 'ip', 'subject', 'consumer', 'header:<name>' or 'claim:<name>'" });
    }),
  );

  const rateLimitSchema = v.strictObject({
    /** Names the policy in RateLimit headers, logs and metrics; unique within the route. */
    id: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)),
    algorithm: v.optional(v.picklist(RATE_LIMIT_ALGORITHMS, `must be one of: ${RATE_LIMIT_ALGORITHMS.join(", ")}`), "fixed-window"),
    /** Requests per window; for token-bucket, the bucket's size (the largest burst). */
    limit: integer(1, 1_000_000_000),
    /** The window; for token-bucket, the interval at which `refill` tokens are added. */
    windowSec: integer(1, 31 * 86_400),
    /** token-bucket only: tokens added every windowSec (default: limit). */
    refill: v.optional(integer(1, 1_000_000_000)),
    /** What one counter is kept per; several parts compose (e.g. ["consumer", "header:x-tenant"]). */
    key: v.optional(
      v.pipe(
        v.array(rateLimitKeyPart, "must be an array"),
        v.minLength(1, "must not be empty"),
        v.maxLength(4, "must have at most 4 parts"),
      ),
      ["ip"],
    ),
    backend: v.optional(v.picklist(RATE_LIMIT_BACKENDS, `must be one of: ${RATE_LIMIT_BACKENDS.join(", ")}`), "durable-object"),
    /** exact asks the backend on every request; local-first spends leased tokens from isolate memory. */
    mode: v.optional(v.picklist(RATE_LIMIT_MODES, `must be one of: ${RATE_LIMIT_MODES.join(", ")}`), "exact"),
    /** local-first only: the most tokens an isolate holds (default: limit / 20, between 1 and 1000). */
    leaseSize: v.optional(integer(1, 10_000)),
    /** What happens when the backend errs or does not answer within timeoutMs: admit (open) or 503 (closed). */
    onFailure: v.optional(v.picklist(["open", "closed"], "must be one of: open, closed"), "open"),
    timeoutMs: v.optional(integer(10, 5_000), 300),
    /** Count and log what would be limited; never refuse a request. */
    shadow: v.optional(v.boolean("must be true or false"), false),
  });

  // Defaults and their reasoning: docs/coalescing.md.
  const coalesceSchema = v.strictObject({
    /** Request headers the upstream's answer depends on: callers that differ on one never share a call. */
    varyHeaders: v.optional(v.pipe(v.array(headerName, "must be an array"), v.maxLength(16, "must have at most 16 headers")), []),
    /**
     * The answer is the same whoever asks: callers with different credentials may share a call
     * (made with the first caller's credentials and claim headers). Unset, only callers with the
     * same credential share.
     */
    public: v.optional(v.boolean("must be true or false"), false),
    /** Largest body shared; a larger answer streams to its own caller, and the others make their own call. */
    maxResponseBytes: v.optional(integer(0, 16 * 1024 * 1024), 1024 * 1024),
    /** Most callers waiting on one upstream call; more make their own call. */
    maxWaiters: v.optional(integer(1, 100_000), 1_000),
    /** After an answer that could not be shared, calls for the same key skip coalescing this long (0: never). */
    passTtlMs: v.optional(integer(0, 600_000), 5_000),
  });

  const percent = v.pipe(
    v.number("must be a number"),
    v.finite("must be a finite number"),
    v.minValue(0, "must be >= 0"),
    v.maxValue(100, "must be <= 100"),
  );

  /** What keeps one caller on one side of a split: `ip`, `subject`, `header:<name>` or `cookie:<name>`. */
  const stickyKey = v.pipe(
    v.string("must be a string"),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const key = dataset.value;
      if (key === "ip" || key === "subject") return;
      if (key.startsWith("header:") && HEADER_NAME.test(key.slice(7))) {
        if (SPOOFABLE_ADDRESS_HEADERS.has(key.slice(7)))
          addIssue({ message: `keys on '${key.slice(7)}', which any client can set; use 'ip'` });
        return;
      }
      if (key.startsWith("cookie:") && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key.slice(7))) return;
      addIssue({ message: "must be 'ip', 'subject', 'header:<name>' or 'cookie:<name>'" });
    }),
  );

  // Defaults and their reasoning: docs/traffic-management.md.
  const splitSchema = v.strictObject({
    /** Clusters that take a share of the route's traffic from its `cluster`, in percent; `cluster` keeps the rest. */
    to: v.pipe(
      v.array(v.strictObject({ cluster: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)), percent }), "must be an array"),
      v.minLength(1, "must not be empty"),
      v.maxLength(8, "must have at most 8 clusters"),
    ),
    /** Keeps one caller on one side; unset, every request is assigned afresh. */
    sticky: v.optional(stickyKey),
    /** A request header or cookie naming one of the route's clusters forces that side (for testing). */
    override: v.optional(
      v.strictObject({
        header: v.optional(headerName),
        cookie: v.optional(v.pipe(v.string("must be a string"), v.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, "must be a cookie name"))),
      }),
    ),
  });

  const mirrorSchema = v.strictObject({
    /** Where the copies go; its answers are discarded. */
    cluster: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)),
    /** Share of requests copied, in percent. */
    percent: v.optional(percent, 100),
    /** Requests with a larger body (or one of unknown length) are not copied. */
    maxBodyBytes: v.optional(integer(0, 16 * 1024 * 1024), 64 * 1024),
    /** A copy still unanswered after this is abandoned. */
    timeoutMs: v.optional(durationMs(60_000), 5_000),
  });

  const idempotencySchema = v.strictObject({
    /** How long a key's outcome is remembered (and replayed). */
    ttlSec: v.optional(integer(1, 7 * 86_400), 86_400),
    /** Request bodies are read to fingerprint them: larger ones are refused with 413. */
    maxRequestBytes: v.optional(integer(0, 16 * 1024 * 1024), 1024 * 1024),
    /** Larger answers are not stored: the key is released when the first request ends. */
    maxResponseBytes: v.optional(integer(0, 16 * 1024 * 1024), 1024 * 1024),
    /** Whether a POST or PATCH without Idempotency-Key is refused (400). */
    required: v.optional(v.boolean("must be true or false"), false),
  });

  const routeSchema = v.strictObject({
    id: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)),
    match: v.strictObject({
      path: matchPath,
      methods: v.optional(
        v.pipe(v.array(v.picklist(ROUTE_METHODS, `must be one of: ${ROUTE_METHODS.join(", ")}`)), v.minLength(1, "must not be empty")),
      ),
      hosts: v.optional(
        v.pipe(
          v.array(
            v.pipe(
              v.string("must be a string"),
              v.toLowerCase(),
              v.regex(HOST_PATTERN, "must be a host name, optionally starting with '*.'"),
            ),
          ),
          v.minLength(1, "must not be empty"),
        ),
      ),
    }),
    cluster: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)),
    rewrite: v.optional(
      v.strictObject({
        /** Removed from the start of the path (on a segment boundary) before forwarding. */
        stripPrefix: v.optional(literalPath),
        /** Prepended to the path (after stripPrefix) before forwarding. */
        prefix: v.optional(literalPath),
        /** Replaces the whole path; `:name` takes the route parameter, a trailing `/*` the wildcard tail. */
        path: v.optional(routePath),
      }),
    ),
    /** Deadline for the upstream's response headers, across all attempts. */
    timeoutMs: v.optional(durationMs(300_000), 15_000),
    retry: v.optional(
      v.strictObject({
        /** Retries after the first attempt. */
        attempts: v.optional(integer(0, 5), 1),
        on: v.optional(
          v.pipe(v.array(v.picklist(RETRY_ON, `must be one of: ${RETRY_ON.join(", ")}`)), v.minLength(1, "must not be empty")),
          ["connect-failure", "gateway-error"],
        ),
        budget: v.optional(
          v.strictObject({
            /** Retries allowed as a share of requests in the last 10 seconds. */
            ratio: v.optional(v.pipe(v.number("must be a number"), v.minValue(0, "must be >= 0"), v.maxValue(1, "must be <= 1")), 0.2),
            /** Retries always allowed per second, whatever the ratio says. */
            minPerSecond: v.optional(integer(0, 1000), 3),
          }),
          {},
        ),
        backoffMs: v.optional(
          v.strictObject({
            base: v.optional(integer(0, 10_000), 25),
            max: v.optional(integer(0, 60_000), 250),
          }),
          {},
        ),
      }),
    ),
    requestHeaders: v.optional(
      v.strictObject({
        /** Only these request headers (plus body framing and the gateway's own) reach the upstream. */
        allow: v.array(headerName),
      }),
    ),
    maxBodyBytes: v.optional(integer(0, 2 ** 31)),
    auth: v.optional(authSchema),
    /** Moves a share of the route's traffic to other clusters (canaries, migrations). */
    split: v.optional(splitSchema),
    /** Copies a share of requests to another cluster in the background; its answers are discarded. */
    mirror: v.optional(mirrorSchema),
    /** Idempotency-Key on POST and PATCH: the first answer is stored and replayed to duplicates. */
    idempotency: v.optional(idempotencySchema),
    /** Identical in-flight GET and HEAD requests share one upstream call. */
    coalesce: v.optional(coalesceSchema),
    /** Evaluated in order on every request; a request must pass all enforced policies. */
    rateLimits: v.optional(v.pipe(v.array(rateLimitSchema, "must be an array"), v.maxLength(8, "must have at most 8 policies")), []),
  });

  const observabilitySchema = v.strictObject({
    accessLog: v.optional(
      v.strictObject({
        /** Share of requests written to the access log, 0 to 1. */
        sampleRate: v.optional(fraction(0, 1), 0.01),
        /** Log every request the gateway answered with a 5xx or that met an upstream 5xx, whatever the sample. */
        errors: v.optional(v.boolean("must be true or false"), true),
      }),
      {},
    ),
    /** Server-Timing on responses: the gateway's own time and the upstream's. Off by default: it tells clients about upstream latency. */
    serverTiming: v.optional(v.boolean("must be true or false"), false),
  });

  return v.strictObject(
    {
      observability: v.optional(observabilitySchema, {}),
      clusters: v.record(v.pipe(v.string(), v.regex(NAME, `cluster names ${NAME_RULE}`)), clusterSchema, "must be an object of clusters"),
      routes: v.pipe(v.array(routeSchema, "must be an array"), v.maxLength(20_000, "must have at most 20000 routes")),
      jwtProviders: v.optional(
        v.record(v.pipe(v.string(), v.regex(NAME, `provider names ${NAME_RULE}`)), jwtProviderSchema, "must be an object of providers"),
        {},
      ),
    },
    "must be an object",
  );
}

const strictSchema = createSchema({ allowPrivateUpstreams: false });
const devSchema = createSchema({ allowPrivateUpstreams: true });

/** A valid gateway config, with defaults applied. */
export type GatewayConfig = v.InferOutput<typeof strictSchema>;
/** What a user writes: defaults may be left out. */
export type GatewayConfigInput = v.InferInput<typeof strictSchema>;
export type RouteConfig = GatewayConfig["routes"][number];
export type ClusterConfig = GatewayConfig["clusters"][string];
export type BreakerConfig = NonNullable<ClusterConfig["breaker"]>;
export type RetryOn = (typeof RETRY_ON)[number];
export type JwtProviderConfig = GatewayConfig["jwtProviders"][string];
export type RouteAuthConfig = NonNullable<RouteConfig["auth"]>;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export type RateLimitPolicyConfig = RouteConfig["rateLimits"][number];
export type RateLimitAlgorithm = (typeof RATE_LIMIT_ALGORITHMS)[number];
export type CoalesceConfig = NonNullable<RouteConfig["coalesce"]>;
export type SplitConfig = NonNullable<RouteConfig["split"]>;
export type MirrorConfig = NonNullable<RouteConfig["mirror"]>;
export type IdempotencyConfig = NonNullable<RouteConfig["idempotency"]>;

/** One validation problem: where in the document (e.g. `routes[2].match.path`) and why. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export type ConfigParseResult = { ok: true; config: GatewayConfig } | { ok: false; issues: ConfigIssue[] };

function formatPath(keys: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of keys) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || "(root)";
}

function rateLimitIssues(route: RouteConfig, at: (suffix: string) => string, issues: ConfigIssue[]): void {
  const ids = new Set<string>();
  route.rateLimits.forEach((policy, j) => {
    const here = (suffix: string) => at(`.rateLimits[${j}]${suffix}`);
    if (ids.has(policy.id)) issues.push({ path: here(".id"), message: `duplicates another policy id of this route` });
    ids.add(policy.id);
    if (policy.refill !== undefined && policy.algorithm !== "token-bucket") {
      issues.push({ path: here(".refill"), message: "only applies to the token-bucket algorithm" });
    }
    if (policy.leaseSize !== undefined) {
      if (policy.mode !== "local-first") issues.push({ path: here(".leaseSize"), message: "only applies to mode 'local-first'" });
      else if (policy.leaseSize > policy.limit) issues.push({ path: here(".leaseSize"), message: `must be <= limit (${policy.limit})` });
    }
    policy.key.forEach((part, k) => {
      const needsIdentity = part === "subject" || part === "consumer" || part.startsWith("claim:");
      if (needsIdentity && route.auth === undefined) {
        issues.push({ path: here(`.key[${k}]`), message: `'${part}' needs an authenticated caller; the route has no auth block` });
      }
      if (part === "consumer" && route.auth !== undefined && route.auth.apiKey === undefined) {
        issues.push({ path: here(`.key[${k}]`), message: "'consumer' comes from API keys; the route's auth has no apiKey" });
      }
      if (part.startsWith("claim:") && route.auth !== undefined && route.auth.jwt === undefined) {
        issues.push({ path: here(`.key[${k}]`), message: "claims come from JWTs; the route's auth has no jwt" });
      }
      if (policy.key.indexOf(part) !== k) issues.push({ path: here(`.key[${k}]`), message: `repeats '${part}'` });
    });
  });
}

function trafficIssues(config: GatewayConfig, route: RouteConfig, at: (suffix: string) => string, issues: ConfigIssue[]): void {
  const known = (name: string) => Object.hasOwn(config.clusters, name);
  const { split, mirror } = route;
  if (split) {
    const seen = new Set<string>([route.cluster]);
    let total = 0;
    split.to.forEach((target, j) => {
      if (!known(target.cluster))
        issues.push({
          path: at(`.split.to[${j}].cluster`),
          message: `names cluster '${target.cluster}', which is not defined in clusters`,
        });
      else if (seen.has(target.cluster))
        issues.push({ path: at(`.split.to[${j}].cluster`), message: `'${target.cluster}' already takes part in this split` });
      seen.add(target.cluster);
      total += target.percent;
    });
    if (total > 100) issues.push({ path: at(".split.to"), message: `shares add up to ${total}%, more than 100%` });
    if (split.sticky === "subject" && route.auth === undefined) {
      issues.push({ path: at(".split.sticky"), message: "'subject' needs an authenticated caller; the route has no auth block" });
    }
    if (split.override && split.override.header === undefined && split.override.cookie === undefined) {
      issues.push({ path: at(".split.override"), message: "must name a header or a cookie" });
    }
  }
  if (mirror) {
    if (!known(mirror.cluster))
      issues.push({ path: at(".mirror.cluster"), message: `names cluster '${mirror.cluster}', which is not defined in clusters` });
    else if (mirror.cluster === route.cluster) issues.push({ path: at(".mirror.cluster"), message: "is the route's own cluster" });
  }
  if (route.idempotency && route.match.methods !== undefined && !route.match.methods.some((m) => m === "POST" || m === "PATCH")) {
    issues.push({ path: at(".idempotency"), message: "only applies to POST and PATCH, and the route matches neither" });
  }
}

/** Checks that only make sense across fields: references, uniqueness, rewrite consistency. */ /** Checks that only make sense across fields: references, uniqueness, rewrite consistency. */
function crossFieldIssues(config: GatewayConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, cluster] of Object.entries(config.clusters)) {
    const breaker = cluster.breaker;
    const at = (suffix: string) => formatPath(["clusters", name, "breaker"]) + suffix;
    if (breaker === undefined) continue;
    if (breaker.maxEjectionSec < breaker.baseEjectionSec)
      issues.push({ path: at(".maxEjectionSec"), message: `must be >= baseEjectionSec (${breaker.baseEjectionSec})` });
    if (breaker.failureWeight + breaker.latencyWeight === 0)
      issues.push({ path: at(".failureWeight"), message: "failureWeight and latencyWeight cannot both be 0" });
  }
  const ids = new Map<string, number>();
  config.routes.forEach((route, i) => {
    const at = (suffix: string) => `routes[${i}]${suffix}`;
    const seen = ids.get(route.id);
    if (seen !== undefined) issues.push({ path: at(".id"), message: `duplicates the id of routes[${seen}]` });
    else ids.set(route.id, i);
    if (!Object.hasOwn(config.clusters, route.cluster)) {
      issues.push({ path: at(".cluster"), message: `names cluster '${route.cluster}', which is not defined in clusters` });
    }
    const { auth } = route;
    if (auth) {
      if (auth.jwt === undefined && auth.apiKey === undefined) {
        issues.push({ path: at(".auth"), message: "must enable at least one method: jwt or apiKey" });
      }
      if (auth.jwt !== undefined && !Object.hasOwn(config.jwtProviders, auth.jwt)) {
        issues.push({ path: at(".auth.jwt"), message: `names provider '${auth.jwt}', which is not defined in jwtProviders` });
      }
      if (auth.token !== undefined && auth.jwt === undefined) {
        issues.push({ path: at(".auth.token"), message: "only applies to jwt; set auth.jwt or remove it" });
      }
      // Compared folded (`_` as `-`): an origin reading x_user_id and x-user-id as one would get both.
      const fold = (name: string | undefined) => name?.replaceAll("_", "-");
      const headers = Object.values(auth.claimHeaders).map(fold);
      headers.forEach((name, j) => {
        if (headers.indexOf(name) !== j) issues.push({ path: at(".auth.claimHeaders"), message: `maps two claims to '${name}'` });
        if (name === fold(auth.apiKey?.header) || name === fold(auth.token?.header)) {
          issues.push({ path: at(".auth.claimHeaders"), message: `'${name}' is the header the credential arrives in` });
        }
      });
    }
    if (
      route.coalesce !== undefined &&
      route.match.methods !== undefined &&
      !route.match.methods.some((m) => m === "GET" || m === "HEAD")
    ) {
      issues.push({ path: at(".coalesce"), message: "only applies to GET and HEAD, and the route matches neither" });
    }
    trafficIssues(config, route, at, issues);
    rateLimitIssues(route, at, issues);
    const { rewrite } = route;
    if (!rewrite) return;
    if (rewrite.path !== undefined && (rewrite.stripPrefix !== undefined || rewrite.prefix !== undefined)) {
      issues.push({ path: at(".rewrite.path"), message: "cannot be combined with stripPrefix or prefix" });
    }
    if (rewrite.stripPrefix !== undefined) {
      const fixed = wildcardBase(route.match.path) ?? route.match.path;
      const strip = rewrite.stripPrefix.replace(/\/$/, "");
      const literal = fixed.split("/:")[0] ?? "";
      if (!(literal === strip || literal.startsWith(`${strip}/`) || strip === "")) {
        issues.push({
          path: at(".rewrite.stripPrefix"),
          message: `must be a leading segment-aligned part of the route path '${route.match.path}'`,
        });
      }
    }
    if (rewrite.path !== undefined) {
      const known = new Set(routePathParams(route.match.path));
      for (const name of routePathParams(rewrite.path)) {
        if (!known.has(name)) issues.push({ path: at(".rewrite.path"), message: `uses ':${name}', which the route path does not define` });
      }
      if (rewrite.path.endsWith("/*") && !route.match.path.endsWith("/*")) {
        issues.push({ path: at(".rewrite.path"), message: "uses '/*', but the route path has no wildcard" });
      }
    }
  });
  return issues;
}

/** Validates an untrusted config document; on failure every issue names its field path and reason. */
export function parseConfig(input: unknown, options: ConfigValidationOptions): ConfigParseResult {
  const schema = options.allowPrivateUpstreams ? devSchema : strictSchema;
  const result = v.safeParse(schema, input, { abortEarly: false });
  // valibot's record() takes arrays for objects; a list of clusters is a common mistake worth naming.
  const clustersIsArray = typeof input === "object" && input !== null && Array.isArray((input as { clusters?: unknown }).clusters);
  const arrayIssue = clustersIsArray ? [{ path: "clusters", message: "must be an object of clusters keyed by name, not an array" }] : [];
  if (!result.success || clustersIsArray) {
    return {
      ok: false,
      issues: arrayIssue.concat(
        (result.issues ?? []).map((issue) => ({
          path: formatPath((issue.path ?? []).map((item) => item.key as PropertyKey)),
          message: issue.message,
        })),
      ),
    };
  }
  const issues = crossFieldIssues(result.output as GatewayConfig);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: result.output };
}
