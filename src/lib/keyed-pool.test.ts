import { describe, expect, it } from "vitest";
import { KeyedPool } from "./keyed-pool.ts";

describe("KeyedPool", () => {
  it("gives a key the object the previous version had, and a fresh one to a new key", () => {
    const pool = new KeyedPool<{ id: number }>();
    let made = 0;
    const make = () => ({ id: ++made });
    const first = pool.handOver();
    const a1 = first.take("a", make);
    const b1 = first.take("b", make);
    first.commit();

    const second = pool.handOver();
    expect(second.take("a", make)).toBe(a1);
    const c2 = second.take("c", make);
    expect(c2).not.toBe(b1);
    expect(made).toBe(3);
    second.commit();
    expect(pool.size).toBe(2);
    expect(pool.peek("b")).toBeUndefined();
    expect(pool.peek("c")).toBe(c2);
  });

  it("takes one object per key within a version, however many routes ask", () => {
    const pool = new KeyedPool<object>();
    const handOver = pool.handOver();
    const one = handOver.take("k", () => ({}));
    expect(handOver.take("k", () => ({}))).toBe(one);
    handOver.commit();
    expect(pool.size).toBe(1);
  });

  it("changes nothing until the hand-over is committed, and commits once", () => {
    const pool = new KeyedPool<string>();
    const first = pool.handOver();
    first.take("a", () => "a1");
    first.commit();

    const abandoned = pool.handOver();
    abandoned.take("b", () => "b1");
    expect(pool.size).toBe(1);
    expect(pool.peek("a")).toBe("a1");
    expect(pool.peek("b")).toBeUndefined();

    const next = pool.handOver();
    expect(next.take("a", () => "a2")).toBe("a1");
    next.commit();
    // A late commit of a stale hand-over does not undo the newer one.
    abandoned.commit();
    expect(pool.peek("a")).toBe("a1");
  });

  it("does not bring back an object released by an earlier version", () => {
    const pool = new KeyedPool<string>();
    const first = pool.handOver();
    first.take("a", () => "a1");
    first.commit();
    pool.handOver().commit();
    expect(pool.size).toBe(0);
    const third = pool.handOver();
    expect(third.take("a", () => "a3")).toBe("a3");
  });
});
