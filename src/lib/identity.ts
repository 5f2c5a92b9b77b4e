/**
 * The caller's identity as the authenticate stage establishes it, for the stages after it
 * (forwarded claims, per-consumer rate limits, logs).
 */

/** Who the caller is, once a route's authentication has passed. */
export interface Identity {
  method: "jwt" | "api-key";
  /** The JWT `sub`, or the API key's consumer name. */
  subject: string | null;
  /** The API key's consumer; null for JWTs. */
  consumer: string | null;
  scopes: ReadonlySet<string>;
  /** The verified JWT claims; for an API key, `sub` (the consumer) and `scope`. */
  claims: Readonly<Record<string, unknown>>;
  /** What per-consumer rate limits key on. */
  rateLimitKey: string | null;
}
