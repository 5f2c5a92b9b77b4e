import { describe, expect, it } from "vitest";
import { CopyMemory, type KeptCopy } from "./memory.ts";

/** A copy whose body is `bytes` long and whose one field weighs 10 bytes. */
const copy = (bytes: number): KeptCopy => ({
  status: 200,
  statusText: "OK",
  headers: [["x-field", "abc"]],
  body: new Blob([new Uint8Array(bytes)]),
});

describe("the isolate's copies in memory", () => {
  it("gives a copy back until the end of its lifetime, then drops it and its bytes", () => {
    const memory = new CopyMemory(16_000);
    memory.set("a", copy(100), 1_000);
    expect(memory.get("a", 999)?.status).toBe(200);
    expect(memory.bytes).toBe(110);
    expect(memory.get("a", 1_000)).toBeUndefined();
    expect(memory.bytes).toBe(0);
    expect(memory.size).toBe(0);
  });

  it("holds at most its bytes, dropping the least recently used copies first", () => {
    const memory = new CopyMemory(16_000); // copies up to 1,000 bytes each
    for (const key of ["a", "b", "c"]) memory.set(key, copy(990), Number.POSITIVE_INFINITY);
    memory.get("a", 0); // a is now the most recent
    for (let i = 0; i < 14; i++) memory.set(`k${i}`, copy(990), Number.POSITIVE_INFINITY);
    // 16 copies of 1,000 bytes fit; the 17th pushed out the least recent: b.
    expect(memory.bytes).toBeLessThanOrEqual(16_000);
    expect(memory.get("b", 0)).toBeUndefined();
    expect(memory.get("a", 0)).toBeDefined();
    expect(memory.get("c", 0)).toBeDefined();
  });

  it("leaves a copy larger than a sixteenth of it to the Cache API, without touching the others", () => {
    const memory = new CopyMemory(16_000);
    memory.set("small", copy(500), Number.POSITIVE_INFINITY);
    memory.set("large", copy(1_000), Number.POSITIVE_INFINITY);
    expect(memory.get("large", 0)).toBeUndefined();
    expect(memory.get("small", 0)).toBeDefined();
    expect(memory.bytes).toBe(510);
  });

  it("replaces a key's copy and counts its bytes once", () => {
    const memory = new CopyMemory(16_000);
    memory.set("a", copy(100), Number.POSITIVE_INFINITY);
    memory.set("a", copy(300), Number.POSITIVE_INFINITY);
    expect(memory.bytes).toBe(310);
    memory.delete("a");
    expect(memory.bytes).toBe(0);
    expect(memory.size).toBe(0);
  });

  it("holds nothing with no bytes to hold it in", () => {
    const memory = new CopyMemory(0);
    memory.set("a", copy(0), Number.POSITIVE_INFINITY);
    expect(memory.get("a", 0)).toBeUndefined();
  });
});
