/**
 * Parsing a JWKS (RFC 7517 section 5) fetched from an identity provider. Pure. A document is refused
 * as a whole when it is not what a provider should ever publish (private or symmetric key material,
 * two keys under one kid), so a compromised or misconfigured endpoint cannot slip a key in.
 */

/** A public signing key as published, with only the members the gateway reads. */
export interface PublicJwk {
  kty: "RSA" | "EC" | "OKP";
  kid?: string;
  alg?: string;
  crv?: string;
  n?: string;
  e?: string;
  x?: string;
  y?: string;
}

export type JwksParseResult = { ok: true; keys: PublicJwk[] } | { ok: false; reason: string };

/** Members that only private or symmetric JWKs carry (RFC 7518 sections 6.2.2, 6.3.2, 6.4). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** Bigger documents are refused unparsed; real key sets are a few KiB. */
export const MAX_JWKS_BYTES = 256 * 1024;
const MAX_KEYS = 100;
const MAX_KID_LENGTH = 256;

const str = (value: unknown): value is string => typeof value === "string" && value.length > 0;

/** Parses and checks a JWKS document. Keys not meant for signatures, or of unknown types, are skipped. */
export function parseJwks(text: string): JwksParseResult {
  if (text.length > MAX_JWKS_BYTES) return { ok: false, reason: "document too large" };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (typeof document !== "object" || document === null || !Array.isArray(keys)) return { ok: false, reason: "no keys array" };
  if (keys.length > MAX_KEYS) return { ok: false, reason: "too many keys" };

  const accepted: PublicJwk[] = [];
  const kids = new Set<string>();
  for (const key of keys as unknown[]) {
    if (typeof key !== "object" || key === null) return { ok: false, reason: "a key is not an object" };
    const jwk = key as Record<string, unknown>;
    if (PRIVATE_MEMBERS.some((member) => member in jwk) || jwk.kty === "oct") {
      return { ok: false, reason: "contains private or symmetric key material" };
    }
    if (jwk.kid !== undefined) {
      if (!str(jwk.kid) || jwk.kid.length > MAX_KID_LENGTH) return { ok: false, reason: "a kid is not a short string" };
      if (kids.has(jwk.kid)) return { ok: false, reason: "duplicate kid" };
      kids.add(jwk.kid);
    }
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes("verify")) continue;
    const kty = jwk.kty;
    const shaped =
      (kty === "RSA" && str(jwk.n) && str(jwk.e)) ||
      (kty === "EC" && str(jwk.crv) && str(jwk.x) && str(jwk.y)) ||
      (kty === "OKP" && str(jwk.crv) && str(jwk.x));
    if (!shaped) continue;
    const out: PublicJwk = { kty };
    for (const member of ["kid", "alg", "crv", "n", "e", "x", "y"] as const) {
      const value = jwk[member];
      if (str(value)) out[member] = value;
    }
    accepted.push(out);
  }
  return { ok: true, keys: accepted };
}

/** Whether a key can verify `alg` at all, by type and curve (RFC 7518 section 3.1, RFC 8037). */
export function keyFitsAlgorithm(jwk: PublicJwk, alg: string): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg && !(isEdDsa(jwk.alg) && isEdDsa(alg))) return false;
  if (alg.startsWith("RS") || alg.startsWith("PS")) return jwk.kty === "RSA";
  if (alg === "ES256") return jwk.kty === "EC" && jwk.crv === "P-256";
  if (alg === "ES384") return jwk.kty === "EC" && jwk.crv === "P-384";
  if (isEdDsa(alg)) return jwk.kty === "OKP" && jwk.crv === "Ed25519";
  return false;
}

function isEdDsa(alg: string): boolean {
  return alg === "EdDSA" || alg === "Ed25519";
}
