/**
 * The RateLimit-Policy and RateLimit response fields of draft-ietf-httpapi-ratelimit-headers-10:
 * Structured Field lists whose items are the policy's name (a String) with parameters
 * q (quota) and w (window, seconds), or r (remaining) and t (seconds until reset).
 */

export interface AdvertisedPolicy {
  id: string;
  limit: number;
  windowSec: number;
}

/** The RateLimit-Policy value; fixed per route, so it is built when the config is compiled. */
export function rateLimitPolicyField(policies: readonly AdvertisedPolicy[]): string {
  return policies.map((p) => `"${p.id}";q=${p.limit};w=${p.windowSec}`).join(", ");
}

/** One RateLimit list item: what is left of a policy's quota, and in how many seconds it resets. */
export function rateLimitItem(id: string, remaining: number, resetAt: number, now: number): string {
  const seconds = Math.max(0, Math.ceil((resetAt - now) / 1000));
  return `"${id}";r=${Math.max(0, Math.floor(remaining))};t=${seconds}`;
}

/** Retry-After in whole seconds (RFC 9110 section 10.2.3), at least 1 so clients do not spin. */
export function retryAfterSeconds(retryAt: number, now: number): number {
  return Math.max(1, Math.ceil((retryAt - now) / 1000));
}
