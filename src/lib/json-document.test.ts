import { describe, expect, it } from "vitest";
import { nestsDeeperThan, parseJsonDocument } from "./json-document.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

describe("nestsDeeperThan", () => {
  it.each([
    ["{}", 1],
    ["[]", 1],
    ['{"a":[1,{"b":[]}]}', 4],
    ["[[[]],[[]]]", 3],
    ['{"a":"[[[[[[[["}', 1],
    ['["\\"[[[["]', 1],
    ['["\\\\",[[]]]', 3],
    ["1", 0],
  ])("%s is %i deep", (text, depth) => {
    expect(nestsDeeperThan(text, depth)).toBe(false);
    if (depth > 0) expect(nestsDeeperThan(text, depth - 1)).toBe(true);
  });

  it("counts a million levels without recursion, in arrays, objects and both", () => {
    const n = 1_000_000;
    expect(nestsDeeperThan(`${"[".repeat(n)}${"]".repeat(n)}`, 64)).toBe(true);
    expect(nestsDeeperThan(`${'{"a":'.repeat(n)}1${"}".repeat(n)}`, 64)).toBe(true);
    expect(nestsDeeperThan(`${'[{"a":'.repeat(n / 2)}1${"}]".repeat(n / 2)}`, 64)).toBe(true);
    // Unbalanced, as an attacker would send it: the answer comes before the end.
    expect(nestsDeeperThan("[".repeat(n), 64)).toBe(true);
  });

  it("does not count brackets that close as depth", () => {
    expect(nestsDeeperThan("[]".repeat(1000), 1)).toBe(false);
  });
});

describe("parseJsonDocument", () => {
  it("parses UTF-8 JSON, multi-byte characters included", () => {
    expect(parseJsonDocument(utf8('{"name":"caf\u00e9 \u20ac \u{1F600}"}'), 64)).toEqual({
      ok: true,
      value: { name: "caf\u00e9 \u20ac \u{1F600}" },
    });
  });

  it.each([
    ["a lone continuation byte", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]],
    ["a truncated sequence", [0x5b, 0x22, 0xe2, 0x82, 0x22, 0x5d]],
    ["an overlong encoding", [0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]],
    ["0xFF", [0x5b, 0x22, 0xff, 0x22, 0x5d]],
    ["an encoded surrogate", [0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]],
  ])("refuses invalid UTF-8: %s", (_, bytes) => {
    expect(parseJsonDocument(new Uint8Array(bytes), 64)).toEqual({ ok: false, problem: "invalid-utf8" });
  });

  it.each(["", " ", "\r\n\t "])("calls %j empty", (text) => {
    expect(parseJsonDocument(utf8(text), 64)).toEqual({ ok: false, problem: "empty" });
  });

  it("refuses documents deeper than the bound before parsing them", () => {
    expect(parseJsonDocument(utf8(`${"[".repeat(65)}${"]".repeat(65)}`), 64)).toEqual({ ok: false, problem: "too-deep" });
    expect(parseJsonDocument(utf8(`${"[".repeat(64)}${"]".repeat(64)}`), 64).ok).toBe(true);
    expect(parseJsonDocument(utf8(`${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`), 64)).toEqual({
      ok: false,
      problem: "too-deep",
    });
  });

  it.each(["{not json", "[1,]", "{}{}", "\u00a0{}"])("calls %j invalid JSON", (text) => {
    expect(parseJsonDocument(utf8(text), 64)).toEqual({ ok: false, problem: "invalid-json" });
  });
});
