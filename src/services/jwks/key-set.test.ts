import { exportJWK, generateKeyPair, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { JwksSettings } from "../../lib/auth/config.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import { type JwksSource, RemoteKeySet } from "./key-set.ts";

const settings: JwksSettings = { cacheMaxAgeMs: 600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, timeoutMs: 1_000 };

/** A scripted identity provider and a shared cache in memory, with a hand-moved clock. */
class FakeSource implements JwksSource {
  document: string | Error = JSON.stringify({ keys: [] });
  fetches = 0;
  shared = new Map<string, { text: string; fetchedAt: number }>();
  sharedReads = 0;
  /** Resolves pending fetches when called; set to hold fetches open. */
  gate: Promise<void> | undefined;

  async fetchRemote(): Promise<string> {
    this.fetches++;
    await this.gate;
    if (this.document instanceof Error) throw this.document;
    return this.document;
  }
  async readShared(uri: string) {
    this.sharedReads++;
    return this.shared.get(uri);
  }
  async writeShared(uri: string, text: string, fetchedAt: number) {
    this.shared.set(uri, { text, fetchedAt });
  }
}

let keyA: JWK;
let keyB: JWK;
beforeAll(async () => {
  keyA = { ...(await exportJWK((await generateKeyPair("ES256")).publicKey)), kid: "a" };
  keyB = { ...(await exportJWK((await generateKeyPair("ES256")).publicKey)), kid: "b" };
});

function setup(keys: JWK[] = [keyA]) {
  const source = new FakeSource();
  source.document = JSON.stringify({ keys });
  let now = 1_000_000;
  const logs: Array<Record<string, unknown>> = [];
  const keySet = new RemoteKeySet(
    "https://idp.example.com/jwks",
    source,
    () => now,
    (e) => logs.push(e),
  );
  const background: Promise<unknown>[] = [];
  const lookup = (kid: string | undefined, alg = "ES256") => keySet.key(kid, alg, settings, (p) => background.push(p));
  return {
    source,
    keySet,
    lookup,
    logs,
    advance: (ms: number) => {
      now += ms;
    },
    settle: () => Promise.all(background),
  };
}

describe("RemoteKeySet", () => {
  it("loads once for many concurrent cold lookups (single flight)", async () => {
    const { source, lookup } = setup();
    let open = () => {};
    source.gate = new Promise((resolve) => {
      open = resolve;
    });
    const waiting = Array.from({ length: 50 }, () => lookup("a"));
    open();
    expect((await Promise.all(waiting)).map((r) => r.kind)).toEqual(Array(50).fill("key"));
    expect(source.fetches).toBe(1);
  });

  it("refetches for an unknown kid at most once per cooldown", async () => {
    const { source, lookup, advance } = setup();
    expect((await lookup("a")).kind).toBe("key");
    expect(await lookup("zzz")).toEqual({ kind: "no-key", reason: "unknown-kid" });
    expect(source.fetches).toBe(1); // within the cooldown of the first load
    advance(settings.cooldownMs);
    source.document = JSON.stringify({ keys: [keyA, keyB] });
    expect((await lookup("b")).kind).toBe("key");
    expect(await lookup("zzz")).toEqual({ kind: "no-key", reason: "unknown-kid" });
    expect(source.fetches).toBe(2);
  });

  it("keeps serving the last good keys when refreshes fail, until maxStale runs out", async () => {
    const { source, lookup, advance, settle, logs } = setup();
    const fetches = (outcome: string) => counterSnapshot()[`jwks_fetches_total{outcome="${outcome}"}`] ?? 0;
    const [okBefore, failedBefore] = [fetches("ok"), fetches("failed")];
    await lookup("a");
    expect(fetches("ok")).toBe(okBefore + 1);
    source.document = new Error("connection refused");
    advance(settings.cacheMaxAgeMs + 1);
    expect((await lookup("a")).kind).toBe("key"); // stale: served, refresh in the background
    await settle();
    expect(source.fetches).toBe(2);
    expect(logs.some((e) => e.event === "jwks.fetch_failed" && e.servingStale === true)).toBe(true);
    expect(fetches("failed")).toBe(failedBefore + 1);
    advance(settings.maxStaleMs);
    expect(await lookup("a")).toEqual({ kind: "unavailable" });
  });

  it("waits out the cooldown after a failed fetch instead of hammering the provider", async () => {
    const { source, lookup, advance } = setup();
    source.document = "<html>";
    expect(await lookup("a")).toEqual({ kind: "unavailable" });
    expect(await lookup("a")).toEqual({ kind: "unavailable" });
    expect(source.fetches).toBe(1);
    expect(source.sharedReads).toBe(1); // the shared copy is not re-read within the cooldown either
    advance(settings.cooldownMs);
    source.document = JSON.stringify({ keys: [keyA] });
    expect((await lookup("a")).kind).toBe("key");
    expect(source.fetches).toBe(2);
  });

  it("starts from a fresh shared copy without calling the provider, but not from a stale one", async () => {
    const fresh = setup();
    fresh.source.shared.set("https://idp.example.com/jwks", { text: JSON.stringify({ keys: [keyA] }), fetchedAt: 1_000_000 });
    expect((await fresh.lookup("a")).kind).toBe("key");
    expect(fresh.source.fetches).toBe(0);

    const stale = setup();
    stale.source.shared.set("https://idp.example.com/jwks", { text: JSON.stringify({ keys: [] }), fetchedAt: 0 });
    expect((await stale.lookup("a")).kind).toBe("key");
    expect(stale.source.fetches).toBe(1);
  });

  it("chooses a key without a kid only when exactly one published key fits the algorithm", async () => {
    const { lookup } = setup([keyA]);
    expect((await lookup(undefined)).kind).toBe("key");
    expect(await lookup(undefined, "RS256")).toEqual({ kind: "no-key", reason: "unknown-kid" });
    const two = setup([keyA, keyB]);
    expect(await two.lookup(undefined)).toEqual({ kind: "no-key", reason: "ambiguous" });
  });

  it("refuses a key whose type does not fit the token's algorithm", async () => {
    const { lookup } = setup();
    expect(await lookup("a", "RS256")).toEqual({ kind: "no-key", reason: "unusable" });
  });

  it("drops a withdrawn key's entry on refresh and keeps unchanged ones", async () => {
    const { source, keySet, lookup, advance, settle } = setup([keyA, keyB]);
    const a = await lookup("a");
    const b = await lookup("b");
    if (a.kind !== "key" || b.kind !== "key") throw new Error("expected keys");
    source.document = JSON.stringify({ keys: [keyB] });
    advance(settings.cacheMaxAgeMs + 1);
    keySet.maintain(settings, () => {});
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(keySet.publishes(a.entry)).toBe(false);
    expect(keySet.publishes(b.entry)).toBe(true);
  });
});
