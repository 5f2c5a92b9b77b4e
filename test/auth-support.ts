/**
 * Helpers for authentication tests inside workerd: signing keys made with jose, key sets published
 * to the test identity provider (a real HTTP server), and configs for authenticated routes.
 */
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT, type SignOptions } from "jose";
import { inject } from "vitest";
import type { GatewayConfigInput } from "../src/config/schema.ts";
import { origin } from "./support.ts";

export const identityProvider = `http://127.0.0.1:${inject("jwksPort")}`;
export const ISSUER = "https://idp.example.com/";
export const AUDIENCE = "https://api.example.com";

export interface Signer {
  alg: string;
  kid: string;
  publicJwk: JWK;
  /** Signs `claims` over defaults (iss, aud, sub, a 10-minute exp); `header` adds or overrides header fields. */
  sign(claims?: JWTPayload, header?: Record<string, unknown>, options?: SignOptions): Promise<string>;
}

export async function newSigner(alg: "RS256" | "ES256" | "EdDSA", kid: string = crypto.randomUUID()): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: "sig" };
  return {
    alg,
    kid,
    publicJwk,
    sign(claims = {}, header = {}, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: "user-1", iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg, kid, ...header })
        .sign(privateKey, options);
    },
  };
}

/** Replaces key set `name` on the identity provider (and/or how it misbehaves). */
export async function publishKeys(
  name: string,
  keys: JWK[] | undefined,
  mode: "ok" | "down" | "garbage" | "slow" | "hang" = "ok",
  delayMs = 0,
): Promise<void> {
  const response = await fetch(`${identityProvider}/__control/sets/${name}`, {
    method: "PUT",
    body: JSON.stringify({ ...(keys ? { document: { keys } } : {}), mode, delayMs }),
  });
  if (!response.ok) throw new Error(`identity provider refused key set ${name}`);
}

/** How many times key set `name` (or "attacker") was fetched. */
export async function jwksHits(name: string): Promise<number> {
  return ((await (await fetch(`${identityProvider}/__control/hits?name=${name}`)).json()) as { hits: number }).hits;
}

type Provider = NonNullable<GatewayConfigInput["jwtProviders"]>[string];
type Auth = NonNullable<GatewayConfigInput["routes"][number]["auth"]>;

/**
 * A config with one provider reading key set `keySet`, and an authenticated route `/secure/*`
 * (to the origin's /echo) plus an open route `/open/*`.
 */
export function authConfig(keySet: string, auth: Partial<Auth> = {}, provider: Partial<Provider> = {}): GatewayConfigInput {
  return {
    clusters: { origin: { targets: [{ url: origin }] } },
    jwtProviders: {
      idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${keySet}`, ...provider },
    },
    routes: [
      { id: "secure", match: { path: "/secure/*" }, cluster: "origin", rewrite: { path: "/echo" }, auth: { jwt: "idp", ...auth } },
      { id: "open", match: { path: "/open/*" }, cluster: "origin", rewrite: { path: "/echo" } },
    ],
  };
}

/** The request headers the origin saw, from its /echo answer. */
export async function echoedHeaders(response: Response): Promise<Record<string, string>> {
  return ((await response.json()) as { headers: Record<string, string> }).headers;
}
