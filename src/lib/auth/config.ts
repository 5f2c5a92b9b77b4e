/**
 * Authentication: the `jwtProviders` map and a route's `auth` block. Their schemas, compiled forms
 * and compile steps, and the checks across fields. The key sets and token caches that verification
 * uses are the isolate runtime's, keyed by what this compiles.
 */
import * as v from "valibot";
import {
  type ConfigIssue,
  type ConfigValidationOptions,
  cookieName,
  described,
  durationMs,
  headerName,
  type IssueAt,
  integer,
  name,
  outboundUrl,
} from "../config/fields.ts";
import type { TokenSource } from "../credentials.ts";
import { foldedName } from "../headers.ts";

/**
 * Signature algorithms a JWT provider may allow. Only asymmetric ones: a JWKS publishes public keys,
 * and an HMAC "verified" with a public key is the classic algorithm-confusion forgery.
 */
export const JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

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

const oneOrMore = (message: string) =>
  v.union(
    [
      v.pipe(v.string(), v.minLength(1, message)),
      v.pipe(v.array(v.pipe(v.string(), v.minLength(1, message))), v.minLength(1, "must not be empty")),
    ],
    "must be a string or a non-empty array of strings",
  );

export function jwtProviderSchema(options: ConfigValidationOptions) {
  return described(
    v.strictObject({
      issuer: described(oneOrMore("must not be empty"), "Accepted iss values: a string or a list."),
      /** Required: without it any token of the issuer would pass. */
      audience: described(oneOrMore("must not be empty"), "Accepted aud values, a string or a list; the token must name one."),
      jwksUri: described(
        outboundUrl(options, "jwks"),
        "Where the provider's public keys (its JWKS) are fetched from: https:// (plain http:// and private addresses only with ALLOW_PRIVATE_UPSTREAMS=true).",
      ),
      algorithms: v.optional(
        described(
          v.pipe(
            v.array(
              v.pipe(
                v.string("must be a string"),
                // Editors offer these (the JSON Schema's enum); the check below gives HS* and none a reason of their own.
                v.metadata({ enum: JWT_ALGORITHMS }),
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
          "Signature algorithms accepted. Only asymmetric ones: none and HS* are refused.",
        ),
        ["RS256", "ES256", "EdDSA"],
      ),
      requiredClaims: v.optional(
        described(
          v.array(v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"))),
          "Claims that must be present besides exp, which is always required.",
        ),
        [],
      ),
      clockToleranceSec: v.optional(described(integer(0, 300), "Clock skew allowed on exp, nbf and iat, in seconds."), 30),
      typ: v.optional(
        described(
          v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty")),
          "When set, the JOSE header typ must match (e.g. at+jwt for RFC 9068 access tokens). Unset: unchecked.",
        ),
      ),
      maxTokenBytes: v.optional(described(integer(256, 65_536), "Longer tokens, in bytes, are refused before any parsing."), 8_192),
      jwks: v.optional(
        described(
          v.strictObject({
            cacheMaxAgeSec: v.optional(
              described(integer(1, 86_400), "Keys younger than this many seconds are used without asking the provider."),
              600,
            ),
            cooldownSec: v.optional(
              described(
                integer(0, 3_600),
                "Minimum seconds between two fetches of the JWKS from one isolate, after a success or a failure.",
              ),
              30,
            ),
            maxStaleSec: v.optional(
              described(
                integer(0, 7 * 86_400),
                "How many seconds past cacheMaxAgeSec the last good keys keep serving while the JWKS cannot be fetched.",
              ),
              86_400,
            ),
            timeoutMs: v.optional(described(durationMs(30_000), "Deadline of one JWKS fetch, in milliseconds."), 3_000),
          }),
          "How the provider's key set is cached and fetched.",
        ),
        {},
      ),
      tokenCacheSize: v.optional(
        described(
          integer(0, 100_000),
          "Verified tokens remembered per isolate (by their SHA-256, until their exp); 0 turns the cache off.",
        ),
        10_000,
      ),
    }),
    "A JWT issuer whose tokens routes may accept, verified against its published keys.",
  );
}

export const authSchema = v.strictObject({
  jwt: v.optional(described(name, "Accept JWTs from this provider, a key of jwtProviders.")),
  token: v.optional(
    described(
      v.pipe(
        v.strictObject({
          header: v.optional(described(headerName, "A request header carrying the token, raw or as a Bearer value.")),
          cookie: v.optional(described(cookieName, "A cookie carrying the token.")),
          /** The query string is a last resort: URLs end up in logs. A route must opt in by naming the parameter. */
          query: v.optional(
            described(
              v.pipe(v.string("must be a string"), v.regex(/^[A-Za-z0-9._~-]{1,64}$/, "must be a query parameter name")),
              "A query parameter carrying the token. A last resort: URLs end up in logs.",
            ),
          ),
        }),
        v.check((t) => Object.keys(t).length === 1, "must name exactly one of header, cookie or query"),
        v.metadata({ minProperties: 1, maxProperties: 1 }),
      ),
      "Where the JWT comes from: exactly one of header, cookie or query. Unset: Authorization: Bearer.",
    ),
  ),
  apiKey: v.optional(
    described(
      v.strictObject({
        header: v.optional(described(headerName, "The request header carrying the API key."), "x-api-key"),
        cacheTtlSec: v.optional(
          described(
            integer(1, 3_600),
            "How long, in seconds, an isolate trusts a key record; a revoked key keeps working in an isolate for at most this long.",
          ),
          60,
        ),
      }),
      "Accept API keys (looked up by their SHA-256 in KV); {} for the defaults.",
    ),
  ),
  scopes: v.optional(
    described(
      v.array(v.pipe(v.string("must be a string"), v.regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "must be a scope token"))),
      "Scopes the caller must hold, all of them: from the token's scope (space-separated) or scp claim, or the API key's own.",
    ),
    [],
  ),
  claimHeaders: v.optional(
    described(
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
          v.description("The upstream request header the claim is sent in."),
        ),
        "must be an object of claim name to header name",
      ),
      "Claim name to upstream header name. A claim is sent only as the upstream will receive it, byte for byte; client-sent headers of these names are always removed. For an API key the claims are sub (the consumer) and scope.",
    ),
    {},
  ),
  forwardCredentials: v.optional(
    described(
      v.boolean("must be true or false"),
      "Pass the credential (the token's header, cookie or query parameter, or the API-key header) on to the upstream.",
    ),
    false,
  ),
});

export type JwtProviderConfig = v.InferOutput<ReturnType<typeof jwtProviderSchema>>;
export type RouteAuthConfig = v.InferOutput<typeof authSchema>;

/** How a provider's JWKS is cached and fetched, in ms. */
export interface JwksSettings {
  cacheMaxAgeMs: number;
  cooldownMs: number;
  maxStaleMs: number;
  timeoutMs: number;
}

export interface CompiledJwtProvider {
  name: string;
  /** Where the keys come from: the runtime keeps one key set per URI. */
  jwksUri: string;
  jwks: JwksSettings;
  issuer: string[];
  audience: string[];
  algorithms: string[];
  /** Always includes "exp". */
  requiredClaims: string[];
  clockToleranceSec: number;
  typ: string | undefined;
  maxTokenBytes: number;
  /** Entries of the runtime's verified-token cache (0: no cache). */
  tokenCacheSize: number;
}

export interface CompiledAuth {
  jwt: CompiledJwtProvider | null;
  tokenSource: TokenSource;
  apiKey: { header: string; cacheTtlMs: number } | null;
  scopes: readonly string[];
  claimHeaders: ReadonlyArray<readonly [claim: string, header: string]>;
  /** Request headers never forwarded, folded (`_` as `-`): claim targets always (no forging), credential carriers unless forwarded. */
  stripHeaders: ReadonlySet<string>;
  stripCookie: string | null;
  stripQueryParam: string | null;
}

export function compileJwtProvider(name: string, provider: JwtProviderConfig): CompiledJwtProvider {
  const list = (value: string | string[]) => (typeof value === "string" ? [value] : value);
  return {
    name,
    jwksUri: provider.jwksUri,
    jwks: {
      cacheMaxAgeMs: provider.jwks.cacheMaxAgeSec * 1000,
      cooldownMs: provider.jwks.cooldownSec * 1000,
      maxStaleMs: provider.jwks.maxStaleSec * 1000,
      timeoutMs: provider.jwks.timeoutMs,
    },
    issuer: list(provider.issuer),
    audience: list(provider.audience),
    algorithms: provider.algorithms,
    requiredClaims: [...new Set(["exp", ...provider.requiredClaims])],
    clockToleranceSec: provider.clockToleranceSec,
    typ: provider.typ,
    maxTokenBytes: provider.maxTokenBytes,
    tokenCacheSize: provider.tokenCacheSize,
  };
}

export function compileAuth(auth: RouteAuthConfig, providers: ReadonlyMap<string, CompiledJwtProvider>): CompiledAuth {
  const token = auth.token;
  const tokenSource: TokenSource = token?.header
    ? token.header === "authorization"
      ? { kind: "authorization" }
      : { kind: "header", name: token.header }
    : token?.cookie
      ? { kind: "cookie", name: token.cookie }
      : token?.query
        ? { kind: "query", name: token.query }
        : { kind: "authorization" };
  const claimHeaders = Object.entries(auth.claimHeaders);
  // Folded (`_` as `-`): the proxy strips every spelling an origin would read as one of these.
  const strip = new Set(claimHeaders.map(([, header]) => foldedName(header)));
  const jwt = auth.jwt === undefined ? null : (providers.get(auth.jwt) ?? null);
  if (!auth.forwardCredentials) {
    if (jwt && tokenSource.kind === "authorization") strip.add("authorization");
    if (jwt && tokenSource.kind === "header") strip.add(foldedName(tokenSource.name));
    if (auth.apiKey) strip.add(foldedName(auth.apiKey.header));
  }
  return {
    jwt,
    tokenSource,
    apiKey: auth.apiKey ? { header: auth.apiKey.header, cacheTtlMs: auth.apiKey.cacheTtlSec * 1000 } : null,
    scopes: auth.scopes,
    claimHeaders,
    stripHeaders: strip,
    stripCookie: jwt && !auth.forwardCredentials && tokenSource.kind === "cookie" ? tokenSource.name : null,
    stripQueryParam: jwt && !auth.forwardCredentials && tokenSource.kind === "query" ? tokenSource.name : null,
  };
}

/** Checks across a route's auth fields and the providers it names. */
export function authIssues(auth: RouteAuthConfig, providers: Readonly<Record<string, unknown>>, at: IssueAt, issues: ConfigIssue[]): void {
  if (auth.jwt === undefined && auth.apiKey === undefined) {
    issues.push({ path: at(".auth"), message: "must enable at least one method: jwt or apiKey" });
  }
  if (auth.jwt !== undefined && !Object.hasOwn(providers, auth.jwt)) {
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
