import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { parsePurgeRule, purgeRequestSchema, purges } from "./purge.ts";

const copy = { routeId: "users", path: "/users?page=2", tags: ["list", "team-7"], storedAt: 100 };

describe("purge rules", () => {
  it("drop copies stored at or before the purge that match every field given", () => {
    expect(purges({ at: 100, route: "users" }, copy)).toBe(true);
    expect(purges({ at: 99, route: "users" }, copy)).toBe(false);
    expect(purges({ at: 200, route: "orders" }, copy)).toBe(false);
    expect(purges({ at: 200, prefix: "/users?" }, copy)).toBe(true);
    expect(purges({ at: 200, prefix: "/users/" }, copy)).toBe(false);
    expect(purges({ at: 200, tag: "team-7" }, copy)).toBe(true);
    expect(purges({ at: 200, tag: "team" }, copy)).toBe(false);
    expect(purges({ at: 200, route: "users", tag: "other" }, copy)).toBe(false);
  });

  it("read back only what is a rule", () => {
    expect(parsePurgeRule({ at: 5, tag: "x" })).toEqual({ at: 5, tag: "x" });
    for (const bad of [null, "x", { at: "5", tag: "x" }, { at: 5 }, { at: Number.NaN, route: "r" }]) expect(parsePurgeRule(bad)).toBeNull();
  });

  it("requests name something, each field well formed", () => {
    const ok = (body: unknown) => v.safeParse(purgeRequestSchema, body).success;
    expect(ok({ route: "users" })).toBe(true);
    expect(ok({ prefix: "/users?page=", tag: "t" })).toBe(true);
    for (const bad of [{}, null, [], { route: "" }, { prefix: "users" }, { prefix: "/ü" }, { tag: " t" }, { tag: "a,b" }, { other: 1 }]) {
      expect(ok(bad)).toBe(false);
    }
  });
});
