import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { described } from "./fields.ts";
import { closestField, knownFields, unknownFieldMessage } from "./unknown-field.ts";

const ROUTE_FIELDS = ["id", "match", "cluster", "rewrite", "timeoutMs", "retry", "maxBodyBytes", "auth", "rateLimits"];

describe("closestField", () => {
  it.each([
    ["timeotMs", "timeoutMs"],
    ["timoeutMs", "timeoutMs"],
    ["TimeoutMS", "timeoutMs"],
    ["timeout", "timeoutMs"],
    ["timeoutSec", "timeoutMs"],
    ["timeoutSeconds", "timeoutMs"],
    ["clustr", "cluster"],
    ["rateLimit", "rateLimits"],
    ["mtch", "match"],
    ["ID", "id"],
  ])("suggests, for %s, %s", (typo, field) => {
    expect(closestField(typo, ROUTE_FIELDS)).toBe(field);
  });

  it.each(["x", "ip", "zzz", "headers", "methods", "timeoutMsMsMs"])("suggests nothing for %s, which is close to no field", (name) => {
    expect(closestField(name, ROUTE_FIELDS)).toBeUndefined();
  });

  it("suggests nothing for a name longer than any field", () => {
    expect(closestField(`timeoutMs${"s".repeat(100_000)}`, ROUTE_FIELDS)).toBeUndefined();
  });

  it("prefers another case over a nearer spelling, and the first field on a tie", () => {
    expect(closestField("Probes", ["probe", "probes"])).toBe("probes");
    expect(closestField("hosx", ["host", "hose"])).toBe("host");
  });
});

describe("unknownFieldMessage", () => {
  it("names the field, and the one it most likely meant", () => {
    expect(unknownFieldMessage("timeotMs", ROUTE_FIELDS)).toBe("unknown field 'timeotMs' (did you mean 'timeoutMs'?)");
    expect(unknownFieldMessage("colour", ROUTE_FIELDS)).toBe("unknown field 'colour'");
  });

  it("quotes a name a terminal would not show as it is", () => {
    expect(unknownFieldMessage("a\nb", ROUTE_FIELDS)).toBe("unknown field 'a\\nb'");
    expect(unknownFieldMessage("y".repeat(100), ROUTE_FIELDS)).toBe(`unknown field '${"y".repeat(64)}...'`);
  });
});

describe("knownFields", () => {
  const schema = v.strictObject({
    top: v.optional(v.string()),
    list: v.array(
      v.strictObject({ a: v.number(), nested: v.optional(described(v.strictObject({ deep: v.boolean() }), "a block"), { deep: false }) }),
    ),
    byName: v.record(v.string(), v.strictObject({ b: v.string() })),
    either: v.union([v.string(), v.strictObject({ c: v.string() })]),
  });

  it("walks objects, arrays, records, wrappers, pipes and unions to the object at a path", () => {
    expect(knownFields(schema, [])).toEqual(["top", "list", "byName", "either"]);
    expect(knownFields(schema, ["list", 3])).toEqual(["a", "nested"]);
    expect(knownFields(schema, ["list", 0, "nested"])).toEqual(["deep"]);
    expect(knownFields(schema, ["byName", "anything"])).toEqual(["b"]);
    expect(knownFields(schema, ["either"])).toEqual(["c"]);
  });

  it("is empty where the path leads to no object", () => {
    expect(knownFields(schema, ["top"])).toEqual([]);
    expect(knownFields(schema, ["nope", "deeper"])).toEqual([]);
  });
});
