import { describe, expect, it } from "vitest";
import { BUCKETS, bucketOf, parseStickyKey, sideBounds, sideOf, stickyValue } from "./buckets.ts";

describe("split sides", () => {
  it("gives each side its share of the buckets, the primary the rest", () => {
    const bounds = sideBounds([1, 9]);
    expect(bounds).toEqual([100, 1000, BUCKETS]);
    const counts = [0, 0, 0];
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const side = sideOf(bucket, bounds);
      counts[side] = (counts[side] ?? 0) + 1;
    }
    expect(counts).toEqual([100, 900, 9000]);
  });

  it("takes fractions of a percent and never more than everything", () => {
    expect(sideBounds([0.05])).toEqual([5, BUCKETS]);
    expect(sideBounds([60, 60])).toEqual([6000, BUCKETS, BUCKETS]);
    expect(sideBounds([100])).toEqual([BUCKETS, BUCKETS]);
    expect(sideOf(9999, sideBounds([100]))).toBe(0);
  });

  it("only moves callers onto the new side when its share grows", () => {
    const at1 = sideBounds([1]);
    const at10 = sideBounds([10]);
    for (let i = 0; i < 5_000; i++) {
      const bucket = bucketOf(`user-${i}`);
      if (sideOf(bucket, at1) === 0) expect(sideOf(bucket, at10)).toBe(0);
    }
  });

  it("hashes keys to stable, well-spread buckets", () => {
    expect(bucketOf("alice")).toBe(bucketOf("alice"));
    const tenths: number[] = Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const tenth = Math.floor(bucketOf(`user-${i}`) / 1000);
      tenths[tenth] = (tenths[tenth] ?? 0) + 1;
    }
    for (const n of tenths) expect(n).toBeGreaterThan(1_700);
  });

  it("reads the sticky key from the request", () => {
    const headers = new Headers({ "cf-connecting-ip": "203.0.113.9", "x-user": "u1", cookie: "a=1; uid=u2" });
    const identity = { method: "jwt", subject: "u3", consumer: null, scopes: new Set<string>(), claims: {}, rateLimitKey: null } as const;
    expect(stickyValue(parseStickyKey("ip"), headers, undefined)).toBe("203.0.113.9");
    expect(stickyValue(parseStickyKey("header:x-user"), headers, undefined)).toBe("u1");
    expect(stickyValue(parseStickyKey("cookie:uid"), headers, undefined)).toBe("u2");
    expect(stickyValue(parseStickyKey("subject"), headers, identity)).toBe("u3");
    expect(stickyValue(parseStickyKey("header:x-missing"), headers, undefined)).toBeUndefined();
  });
});
