import { describe, expect, it } from "vitest";
import { compileCache, settingsDigest } from "./config.ts";
import { decodeEntryRecord, type EntryRecord, encodeEntryRecord, freshness, storagePlan } from "./policy.ts";

const base = { ttlSec: 60, staleWhileRevalidateSec: 30, staleIfErrorSec: 300, varyHeaders: ["accept-language"], public: false };
const policy = (over: Partial<typeof base & { respectCacheControl: boolean }> = {}) =>
  compileCache("r", { maxBodyBytes: 1024, respectCacheControl: false, maxWaiters: 10, ...base, ...over }, null, []);
const h = (init: Record<string, string>) => new Headers(init);

describe("storagePlan", () => {
  it("stores cacheable statuses for the route's lifetimes, whatever the origin says, unless asked to respect it", () => {
    for (const status of [200, 203, 204, 301, 404, 410]) expect(storagePlan(status, h({}), policy()).store).toBe(true);
    expect(storagePlan(200, h({ "cache-control": "max-age=5" }), policy())).toEqual({
      store: true,
      lifetimes: { ttlSec: 60, swrSec: 30, sieSec: 300 },
    });
  });

  it("never stores what belongs to one caller, a status a shared cache may not keep, or an undeclared Vary", () => {
    expect(storagePlan(200, h({ "set-cookie": "a=b" }), policy())).toEqual({ store: false, reason: "set-cookie" });
    expect(storagePlan(200, h({ "cache-control": "Private" }), policy())).toEqual({ store: false, reason: "private" });
    expect(storagePlan(200, h({ "cache-control": "no-store" }), policy())).toEqual({ store: false, reason: "no-store" });
    expect(storagePlan(200, h({ vary: "*" }), policy())).toEqual({ store: false, reason: "vary-star" });
    expect(storagePlan(206, h({}), policy())).toEqual({ store: false, reason: "partial" });
    for (const status of [201, 302, 500, 503]) expect(storagePlan(status, h({}), policy())).toEqual({ store: false, reason: "status" });
    expect(storagePlan(200, h({ vary: "Cookie" }), policy())).toEqual({ store: false, reason: "vary-undeclared" });
    expect(storagePlan(200, h({ vary: "Accept-Language, accept-encoding" }), policy()).store).toBe(true);
  });

  it("lets a respected Cache-Control shorten, never lengthen, the lifetimes", () => {
    const respect = policy({ respectCacheControl: true });
    const plan = (cc: string) => storagePlan(200, h({ "cache-control": cc }), respect);
    expect(plan("s-maxage=10, max-age=1000")).toEqual({ store: true, lifetimes: { ttlSec: 10, swrSec: 30, sieSec: 300 } });
    expect(plan("max-age=1000, stale-while-revalidate=5, stale-if-error=9999")).toEqual({
      store: true,
      lifetimes: { ttlSec: 60, swrSec: 5, sieSec: 300 },
    });
    expect(plan("max-age=10, must-revalidate")).toEqual({ store: true, lifetimes: { ttlSec: 10, swrSec: 0, sieSec: 0 } });
    expect(plan("no-cache")).toEqual({ store: false, reason: "no-cache" });
    expect(plan("max-age=0, must-revalidate")).toEqual({ store: false, reason: "no-freshness" });
  });
});

describe("entry records and freshness", () => {
  const record: EntryRecord = {
    storedAt: 1_000_000,
    ttlSec: 10,
    swrSec: 5,
    sieSec: 60,
    path: "/ü?x=1",
    tags: ["a", "ß"],
    cacheControl: null,
    vary: "Accept",
  };

  it("round-trips through a Latin-1 header value and refuses damaged ones", () => {
    const encoded = encodeEntryRecord(record);
    expect(/^[\x20-\x7e]*$/.test(encoded)).toBe(true);
    expect(decodeEntryRecord(encoded)).toEqual(record);
    for (const bad of [null, "", "{", "[]", '{"storedAt":"x"}', JSON.stringify({ ...record, tags: [1] })]) {
      expect(decodeEntryRecord(bad)).toBeNull();
    }
  });

  it("is fresh, then stale for revalidation, then only for errors, then expired", () => {
    expect(freshness(record, 1_000_000)).toBe("fresh");
    expect(freshness(record, 1_009_999)).toBe("fresh");
    expect(freshness(record, 1_010_000)).toBe("stale-while-revalidate");
    expect(freshness(record, 1_015_000)).toBe("stale-if-error");
    expect(freshness(record, 1_070_000)).toBe("expired");
  });
});

describe("key space", () => {
  it("changes with any cache setting and with the route, and only then", () => {
    const a = policy().keySpace;
    expect(policy().keySpace).toBe(a);
    expect(policy({ ttlSec: 61 }).keySpace).not.toBe(a);
    expect(policy({ public: true }).keySpace).not.toBe(a);
    expect(settingsDigest("x")).toMatch(/^[0-9a-f]{16}$/);
    expect(settingsDigest("ab")).not.toBe(settingsDigest("ba"));
  });
});
