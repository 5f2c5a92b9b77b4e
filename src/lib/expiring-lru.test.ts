import { describe, expect, it } from "vitest";
import { ExpiringLru } from "./expiring-lru.ts";

describe("ExpiringLru", () => {
  it("returns a value until its expiry and never after", () => {
    const lru = new ExpiringLru<string, number>(10);
    lru.set("a", 1, 1_000);
    expect(lru.get("a", 999)).toBe(1);
    expect(lru.get("a", 1_000)).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it("evicts the least recently used entry when full", () => {
    const lru = new ExpiringLru<string, number>(2);
    lru.set("a", 1, 10);
    lru.set("b", 2, 10);
    expect(lru.get("a", 0)).toBe(1); // a is now the most recent
    lru.set("c", 3, 10);
    expect(lru.get("b", 0)).toBeUndefined();
    expect(lru.get("a", 0)).toBe(1);
    expect(lru.get("c", 0)).toBe(3);
    expect(lru.size).toBe(2);
  });

  it("stays bounded under many distinct keys", () => {
    const lru = new ExpiringLru<number, number>(100);
    for (let i = 0; i < 10_000; i++) lru.set(i, i, 10);
    expect(lru.size).toBe(100);
    expect(lru.get(9_999, 0)).toBe(9_999);
    expect(lru.get(0, 0)).toBeUndefined();
  });

  it("stores nothing when its size is 0", () => {
    const lru = new ExpiringLru<string, number>(0);
    lru.set("a", 1, 10);
    expect(lru.get("a", 0)).toBeUndefined();
  });
});
