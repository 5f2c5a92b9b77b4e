/**
 * The benchmark's identity provider and load scripts: an ES256 key whose JWKS the origin nginx
 * serves, tokens for it, and the wrk Lua scripts that send a pool of tokens or pace a fixed rate.
 */
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";

export const ISSUER = "https://idp.bench.example/";
export const AUDIENCE = "edgegate-bench";
export const TOKEN_POOL = 1_000;

export interface BenchIdentityProvider {
  /** The JWKS document. */
  jwks: string;
  /** The public key as PEM (SPKI), for peers that take a key file. */
  publicKeyPem: string;
  sign(sub: string): Promise<string>;
}

export async function benchIdentityProvider(): Promise<BenchIdentityProvider> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench-1", use: "sig" }] });
  const exp = Math.floor(Date.now() / 1000) + 6 * 3_600;
  const sign = (sub: string) =>
    new SignJWT({ sub, scope: "read" })
      .setProtectedHeader({ alg: "ES256", kid: "bench-1" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(exp)
      .sign(privateKey);
  return { jwks, publicKeyPem: await exportSPKI(publicKey), sign };
}

/** wrk Lua: each request carries the next token of the pool. */
export function tokenPoolLua(tokens: string[]): string {
  return `tokens = {\n${tokens.map((t) => `  "${t}",`).join("\n")}\n}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1] })
end
`;
}

/**
 * wrk Lua: paces each connection so that together they send `rate` requests per second (wrk's
 * delay() hook). Closed-loop per connection: a slow response delays that connection's next
 * request, so latency under a stall is understated (wrk2 corrects this; Debian does not package it).
 */
export function pacedLua(rate: number, connections: number): string {
  return `pace_ms = ${((connections * 1000) / rate).toFixed(3)}
delay = function()
  return pace_ms
end
`;
}
