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
  return v.strictObject({
    /** Accepted `iss` values. */
    issuer: oneOrMore("must not be empty"),
    /** Accepted `aud` values; the token must name at least one. Required: without it any token of the issuer would pass. */
    audience: oneOrMore("must not be empty"),
    jwksUri: outboundUrl(options, "jwks"),
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
}

export const authSchema = v.strictObject({
  /** Name of a provider in `jwtProviders`. */
  jwt: v.optional(name),
  /** Where the JWT comes from; the Authorization header (Bearer scheme) unless set. At most one source. */
  token: v.optional(
    v.pipe(
      v.strictObject({
        header: v.optional(headerName),
        cookie: v.optional(cookieName),
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
