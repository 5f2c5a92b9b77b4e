/**
 * JWT verification for one provider. Cheap checks come first so junk costs next to nothing: size,
 * compact shape, then the verified-token cache, then (inside jose) the header's crit and alg, and
 * only then a key lookup and the signature check. Reasons are the gateway's own fixed sentences:
 * never the token, never jose's message.
 */
import { errors, type JWSHeaderParameters, jwtVerify } from "jose";
import type { CompiledJwtProvider } from "../../lib/auth/config.ts";
import { grantedScopes } from "../../lib/credentials.ts";
import type { Identity } from "../../lib/identity.ts";
import type { JwtState } from "../../runtime/isolate-runtime.ts";
import type { KeyEntry } from "../../services/jwks/key-set.ts";

export type JwtOutcome =
  | { kind: "valid"; identity: Identity }
  | { kind: "invalid"; reason: string }
  /** The keys cannot be had (JWKS down, nothing cached): the caller's token was never judged. */
  | { kind: "unavailable" };

/** JWS compact serialization: three base64url segments, the signature not empty (so no alg "none"). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_KID_LENGTH = 256;

const encoder = new TextEncoder();

/** The token's SHA-256 as a 16-character string (one UTF-16 unit per two bytes): the cache key, so tokens are not kept in memory. */
async function tokenDigest(token: string): Promise<string> {
  const words = new Uint16Array(await crypto.subtle.digest("SHA-256", encoder.encode(token)));
  let key = "";
  for (let i = 0; i < words.length; i++) key += String.fromCharCode(words[i] as number);
  return key;
}

const invalid = (reason: string): JwtOutcome => ({ kind: "invalid", reason });

function jwtIdentity(claims: Readonly<Record<string, unknown>>): Identity {
  const subject = typeof claims.sub === "string" ? claims.sub : null;
  return { method: "jwt", subject, consumer: null, scopes: grantedScopes(claims), claims, rateLimitKey: subject };
}

/** Thrown from jose's key callback when the key set gave no key; the outcome says why. */
class KeyNotResolved extends Error {}

function claimReason(claim: string, reason: string): string {
  switch (claim) {
    case "exp":
      return reason === "missing" ? "The token has no expiry (exp)." : "The token has expired.";
    case "nbf":
      return "The token is not valid yet.";
    case "iat":
      return "The token's issue time (iat) is not valid.";
    case "iss":
      return "The token's issuer is not accepted.";
    case "aud":
      return "The token's audience is not accepted.";
    case "typ":
      return "The token's type (typ) is not accepted.";
    default:
      return reason === "missing" ? `The token lacks the required '${claim}' claim.` : `The token's '${claim}' claim is not valid.`;
  }
}

/** Maps jose's errors, by class, onto the gateway's fixed reasons. */
function reasonFor(error: unknown): string {
  if (error instanceof errors.JWTExpired) return claimReason("exp", error.reason);
  if (error instanceof errors.JWTClaimValidationFailed) return claimReason(error.claim, error.reason);
  if (error instanceof errors.JWSSignatureVerificationFailed) return "The token's signature is not valid.";
  if (error instanceof errors.JOSEAlgNotAllowed) return "The token's algorithm is not allowed.";
  if (error instanceof errors.JOSENotSupported) return "The token uses a header or algorithm the gateway does not support.";
  return "The token is malformed.";
}

/** Verifies `token` against `provider` with its isolate state (keys, verified tokens); the caller's `waitUntil` carries any JWKS fetch it starts. */
export async function verifyJwt(
  token: string,
  provider: CompiledJwtProvider,
  state: JwtState,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<JwtOutcome> {
  if (token.length > provider.maxTokenBytes) return invalid("The token is too large.");
  if (!COMPACT_JWS.test(token)) return invalid("The token is malformed.");

  // With the cache off (tokenCacheSize 0) the digest would buy nothing: skip it.
  const { keySet, tokenCache: cache } = state;
  const digest = cache.maxEntries > 0 ? await tokenDigest(token) : undefined;
  const now = Date.now();
  const cached = digest === undefined ? undefined : cache.get(digest, now);
  if (cached !== undefined && digest !== undefined) {
    keySet.maintain(provider.jwks, waitUntil);
    if (keySet.publishes(cached.key)) return { kind: "valid", identity: cached.identity };
    cache.delete(digest);
  }

  // jose parses the header once and checks crit and the alg allowlist before it asks for a key,
  // so a disallowed alg or an unknown critical header never reaches the key set (or a JWKS fetch).
  // jku, x5u, jwk and x5c headers are never read: the key comes only from the configured JWKS.
  let keyOutcome: JwtOutcome | undefined;
  let entry: KeyEntry | undefined;
  const resolveKey = async ({ alg, kid }: JWSHeaderParameters): Promise<CryptoKey> => {
    if (kid !== undefined && (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH)) {
      keyOutcome = invalid("The token's key id (kid) is not valid.");
    } else {
      const lookup = await keySet.key(kid, alg as string, provider.jwks, waitUntil);
      if (lookup.kind === "key") {
        entry = lookup.entry;
        return lookup.key;
      }
      keyOutcome =
        lookup.kind === "unavailable"
          ? { kind: "unavailable" }
          : invalid(
              lookup.reason === "ambiguous" ? "The token has no key id (kid) to choose a key by." : "The token's signing key is not known.",
            );
    }
    throw new KeyNotResolved();
  };

  let claims: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, resolveKey, {
      algorithms: provider.algorithms,
      issuer: provider.issuer,
      audience: provider.audience,
      requiredClaims: provider.requiredClaims,
      clockTolerance: provider.clockToleranceSec,
      ...(provider.typ === undefined ? {} : { typ: provider.typ }),
    });
    claims = verified.payload;
  } catch (error) {
    return keyOutcome ?? invalid(reasonFor(error));
  }
  // Remembered until exp exactly: the cache never extends a token's life, tolerance or not.
  const expiresAtMs = (claims.exp as number) * 1000;
  const identity = jwtIdentity(claims);
  if (digest !== undefined && entry !== undefined && expiresAtMs > now) cache.set(digest, { identity, key: entry }, expiresAtMs);
  return { kind: "valid", identity };
}
