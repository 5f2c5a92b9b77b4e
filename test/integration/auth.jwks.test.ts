import { describe, expect, it } from "vitest";
import { RemoteKeySet } from "../../src/services/jwks/key-set.ts";
import { platformJwksSource } from "../../src/services/jwks/source.ts";
import { authConfig, identityProvider, jwksHits, newSigner, publishKeys } from "../auth-support.ts";
import { applyConfig, gateway } from "../support.ts";

const call = async (token: string) => {
  const response = await gateway("/secure/x", { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns `want` or the time runs out; returns the last value. */
async function eventually<T>(probe: () => Promise<T>, want: T, withinMs: number): Promise<T> {
  const end = Date.now() + withinMs;
  let last = await probe();
  while (last !== want && Date.now() < end) {
    await sleep(50);
    last = await probe();
  }
  return last;
}

describe("JWKS key rotation", () => {
  it("accepts a new kid after one refetch, and rejects a removed key once the cache expires", async () => {
    const set = `rotation-${crypto.randomUUID()}`;
    const [oldKey, newKey] = [await newSigner("ES256"), await newSigner("ES256")];
    await publishKeys(set, [oldKey.publicJwk]);
    await applyConfig(authConfig(set, {}, { jwks: { cacheMaxAgeSec: 1, cooldownSec: 0 } }));
    const oldToken = await oldKey.sign();
    expect(await call(oldToken)).toBe(200);
    expect(await jwksHits(set)).toBe(1);

    // The provider starts signing with a new key: its unknown kid triggers one refetch.
    await publishKeys(set, [oldKey.publicJwk, newKey.publicJwk]);
    expect(await call(await newKey.sign())).toBe(200);
    expect(await jwksHits(set)).toBe(2);

    // The old key is withdrawn: once the cached set is older than cacheMaxAgeSec it is refreshed
    // in the background, and from then on the old key's tokens (cached verifications too) fail.
    await publishKeys(set, [newKey.publicJwk]);
    expect(await eventually(() => call(oldToken), 401, 5_000)).toBe(401);
    expect(await call(await oldKey.sign())).toBe(401);
    expect(await call(await newKey.sign())).toBe(200);
  });

  it("fetches the JWKS at most once per cooldown for 100 concurrent tokens with random unknown kids", async () => {
    const set = `flood-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(authConfig(set, {}, { jwks: { cooldownSec: 1 } }));
    expect(await call(await signer.sign())).toBe(200);
    await sleep(1_100); // the cooldown after the first fetch has passed: one refetch is allowed

    const flood = async () =>
      Promise.all(Array.from({ length: 100 }, async () => call(await signer.sign({}, { kid: crypto.randomUUID() }))));
    const before = await jwksHits(set);
    expect(new Set(await flood())).toEqual(new Set([401]));
    expect(await jwksHits(set)).toBe(before + 1);
    expect(new Set(await flood())).toEqual(new Set([401]));
    expect(await jwksHits(set)).toBe(before + 1); // still inside the cooldown: no fetch at all
    expect(await call(await signer.sign())).toBe(200);
  });
});

describe("JWKS outages", () => {
  it("keeps accepting tokens from cached keys while the JWKS endpoint is down", async () => {
    const set = `down-warm-${crypto.randomUUID()}`;
    const signer = await newSigner("RS256");
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(authConfig(set, {}, { jwks: { cacheMaxAgeSec: 1, cooldownSec: 0 } }));
    expect(await call(await signer.sign())).toBe(200);

    await publishKeys(set, undefined, "down");
    await sleep(1_100); // keys now stale: every request tries a refresh, and each fails
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push(await call(await signer.sign({ jti: String(i) })));
      await sleep(50);
    }
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(await jwksHits(set)).toBeGreaterThan(1);

    await publishKeys(set, undefined, "garbage");
    expect(await call(await signer.sign({ jti: "garbage" }))).toBe(200);
  });

  it("answers 503 auth-unavailable, not 401 or 500, when the JWKS cannot be loaded and nothing is cached", async () => {
    for (const mode of ["down", "garbage", "hang"] as const) {
      const set = `down-cold-${mode}-${crypto.randomUUID()}`;
      const signer = await newSigner("ES256");
      await publishKeys(set, [signer.publicJwk], mode);
      await applyConfig(authConfig(set, {}, { jwks: { timeoutMs: 300 } }));
      const response = await gateway("/secure/x", { headers: { authorization: `Bearer ${await signer.sign()}` } });
      expect(response.status, mode).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      const problem = (await response.json()) as { type: string; detail: string };
      expect(problem.type).toBe("urn:edgegate:problem:auth-unavailable");
      expect(JSON.stringify(problem)).not.toContain("127.0.0.1");
    }
  });

  it("refuses a JWKS carrying private key material or duplicate kids, keeping none of its keys", async () => {
    const signer = await newSigner("ES256");
    const leaked = `private-${crypto.randomUUID()}`;
    await publishKeys(leaked, [{ ...signer.publicJwk, d: "c2VjcmV0" }]);
    await applyConfig(authConfig(leaked));
    expect(await call(await signer.sign())).toBe(503);

    const duplicated = `duplicate-${crypto.randomUUID()}`;
    const other = await newSigner("ES256", signer.kid);
    await publishKeys(duplicated, [signer.publicJwk, other.publicJwk]);
    await applyConfig(authConfig(duplicated));
    expect(await call(await signer.sign())).toBe(503);
  });

  it("does not ask a down identity provider again within the cooldown", async () => {
    const set = `down-cooldown-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk], "down");
    await applyConfig(authConfig(set, {}, { jwks: { cooldownSec: 3600 } }));
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => call(await signer.sign())));
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(await call(await signer.sign())).toBe(503);
    expect(await jwksHits(set)).toBe(1);
  });
});

describe("JWKS shared between isolates", () => {
  it("lets a cold isolate start from the Cache API copy instead of calling the identity provider", async () => {
    const set = `shared-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    const uri = `${identityProvider}/sets/${set}`;
    const settings = { cacheMaxAgeMs: 60_000, cooldownMs: 30_000, maxStaleMs: 60_000, timeoutMs: 2_000 };
    const pending: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => pending.push(p);

    // Two key sets stand for two isolates: separate memory, the same location's cache.
    const first = new RemoteKeySet(uri, platformJwksSource);
    expect((await first.key(signer.kid, "ES256", settings, waitUntil)).kind).toBe("key");
    await Promise.all(pending);
    expect(await jwksHits(set)).toBe(1);

    const second = new RemoteKeySet(uri, platformJwksSource);
    expect((await second.key(signer.kid, "ES256", settings, waitUntil)).kind).toBe("key");
    expect(await jwksHits(set)).toBe(1);
  });
});
