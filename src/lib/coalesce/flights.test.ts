import { describe, expect, it } from "vitest";
import { FlightTable } from "./flights.ts";

describe("FlightTable", () => {
  it("makes the first caller the leader and later ones followers of the same flight", () => {
    const table = new FlightTable<string>(10);
    const first = table.join("k");
    const second = table.join("k");
    const third = table.join("k");
    expect(first.role).toBe("leader");
    expect(second.role).toBe("follower");
    expect(third.role).toBe("follower");
    if (first.role !== "leader" || second.role !== "follower") throw new Error("roles");
    expect(second.flight).toBe(first.flight);
    expect(first.flight.followers).toBe(2);
  });

  it("keeps different keys apart", () => {
    const table = new FlightTable<string>(10);
    expect(table.join("a").role).toBe("leader");
    expect(table.join("b").role).toBe("leader");
    expect(table.size).toBe(2);
  });

  it("settles every follower with the leader's outcome and lets the next caller lead afresh", async () => {
    const table = new FlightTable<string>(10);
    const lead = table.join("k");
    const follow = table.join("k");
    if (lead.role !== "leader" || follow.role !== "follower") throw new Error("roles");
    expect(table.land("k", lead.flight, "answer")).toBe(1);
    await expect(follow.flight.promise).resolves.toBe("answer");
    expect(table.size).toBe(0);
    const next = table.join("k");
    expect(next.role).toBe("leader");
    if (next.role !== "leader") throw new Error("role");
    expect(next.flight).not.toBe(lead.flight);
  });

  it("sends callers past the follower cap alone", () => {
    const table = new FlightTable<string>(2);
    table.join("k");
    expect(table.join("k").role).toBe("follower");
    expect(table.join("k").role).toBe("follower");
    expect(table.join("k").role).toBe("alone");
  });

  it("ignores a landing for a flight that is no longer the key's", () => {
    const table = new FlightTable<string>(10);
    const old = table.join("k");
    if (old.role !== "leader") throw new Error("role");
    table.land("k", old.flight, "first");
    const current = table.join("k");
    table.land("k", old.flight, "stale");
    expect(table.size).toBe(1);
    if (current.role !== "leader") throw new Error("role");
    table.land("k", current.flight, "second");
    expect(table.size).toBe(0);
  });
});
