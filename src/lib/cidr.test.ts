import { describe, expect, it } from "vitest";
import { type CidrRange, cidrProblem, inRanges, parseAddress, parseCidr, rangeCovers, rangeSet, rangeText } from "./cidr.ts";

function range(text: string): CidrRange {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.problem}`);
  return parsed.range;
}

function matches(ranges: string[], address: string): boolean {
  const parsed = parseAddress(address);
  if (parsed === undefined) throw new Error(`not an address: ${address}`);
  return inRanges(rangeSet(ranges.map(range)), parsed);
}

describe("parseCidr: what a config may write", () => {
  it.each([
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["192.168.1.7", "192.168.1.7/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["255.255.255.255/32", "255.255.255.255/32"],
    ["100.64.0.0/10", "100.64.0.0/10"],
    ["2001:db8::/32", "2001:db8::/32"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128"],
    ["::/0", "::/0"],
    ["::1", "::1/128"],
    ["fe80::/10", "fe80::/10"],
    ["2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128"],
    // IPv4-mapped: the IPv4 range it maps.
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::ffff:0:0/96", "0.0.0.0/0"],
    ["::ffff:10.1.2.3", "10.1.2.3/32"],
    ["::ffff:a01:203", "10.1.2.3/32"],
    // Shorter than /96, a range holding the mapped block is an IPv6 range.
    ["::/80", "::/80"],
  ])("%s is %s", (text, canonical) => {
    expect(rangeText(range(text))).toBe(canonical);
  });

  it.each([
    ["", "is not an IPv4 address"],
    ["10.0.0.0/", "decimal prefix length"],
    ["10.0.0.0/8/8", "decimal prefix length"],
    ["10.0.0.0/08", "decimal prefix length"],
    ["10.0.0.0/-1", "decimal prefix length"],
    ["10.0.0.0/8.0", "decimal prefix length"],
    ["10.0.0.0/33", "prefix length over 32"],
    ["2001:db8::/129", "prefix length over 128"],
    ["10.1.2.3/8", "the range is 10.0.0.0/8"],
    ["10.0.0.1/31", "the range is 10.0.0.0/31"],
    ["2001:db8::1/32", "the range is 2001:db8::/32"],
    ["::ffff:10.1.0.0/104", "the range is ::ffff:10.0.0.0/104"],
    ["10.1", "dotted decimal"],
    ["10", "dotted decimal"],
    ["010.0.0.1", "dotted decimal"],
    ["0x0a.0.0.1", "dotted decimal"],
    ["2130706433", "dotted decimal"],
    ["256.0.0.0/8", "dotted decimal"],
    ["10.0.0.0.0", "dotted decimal"],
    ["example.com", "dotted decimal"],
    ["10.0.0.0 /8", "spaces"],
    [" 10.0.0.0/8", "spaces"],
    ["[2001:db8::]/32", "brackets"],
    ["fe80::1%eth0", "zone"],
    ["2001:db8:::/32", "not an IPv6 address"],
    ["2001:db8::1::/32", "not an IPv6 address"],
    ["1:2:3:4:5:6:7:8:9", "not an IPv6 address"],
    ["2001:db8::g", "not an IPv6 address"],
    ["::ffff:010.0.0.1", "not an IPv6 address"],
  ])("refuses %j: %s", (text, problem) => {
    expect(cidrProblem(text)).toContain(problem);
  });
});

describe("parseAddress: what CF-Connecting-IP carries", () => {
  it("reads IPv4, IPv6 and IPv4-mapped IPv6 (as the IPv4 address it maps)", () => {
    expect(parseAddress("203.0.113.7")).toEqual({ family: 4, words: [0xcb007107] });
    expect(parseAddress("::ffff:203.0.113.7")).toEqual({ family: 4, words: [0xcb007107] });
    expect(parseAddress("::FFFF:cb00:7107")).toEqual({ family: 4, words: [0xcb007107] });
    expect(parseAddress("2001:db8::1")).toEqual({ family: 6, words: [0x20010db8, 0, 0, 1] });
  });

  it.each(["", "unknown", "10.1", "010.0.0.1", "[::1]", "fe80::1%eth0", "203.0.113.7:443", "::ffff:1.2.3.4.5"])(
    "has no address in %j",
    (text) => {
      expect(parseAddress(text)).toBeUndefined();
    },
  );
});

describe("inRanges", () => {
  it("matches IPv4 ranges at their edges", () => {
    expect(matches(["10.0.0.0/8"], "10.0.0.0")).toBe(true);
    expect(matches(["10.0.0.0/8"], "10.255.255.255")).toBe(true);
    expect(matches(["10.0.0.0/8"], "11.0.0.0")).toBe(false);
    expect(matches(["10.0.0.0/8"], "9.255.255.255")).toBe(false);
    expect(matches(["192.168.1.7"], "192.168.1.7")).toBe(true);
    expect(matches(["192.168.1.7"], "192.168.1.8")).toBe(false);
    expect(matches(["0.0.0.0/0"], "255.255.255.255")).toBe(true);
    expect(matches(["128.0.0.0/1"], "127.255.255.255")).toBe(false);
    expect(matches(["128.0.0.0/1"], "128.0.0.0")).toBe(true);
  });

  it("matches IPv6 ranges at their edges, across word boundaries", () => {
    expect(matches(["2001:db8::/32"], "2001:db8::")).toBe(true);
    expect(matches(["2001:db8::/32"], "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(true);
    expect(matches(["2001:db8::/32"], "2001:db9::")).toBe(false);
    expect(matches(["2001:db8:8000::/33"], "2001:db8:7fff::")).toBe(false);
    expect(matches(["2001:db8:8000::/33"], "2001:db8:8000::")).toBe(true);
    expect(matches(["2001:db8::/33"], "2001:db8:7fff::1")).toBe(true);
    expect(matches(["2001:db8::/33"], "2001:db8:8000::1")).toBe(false);
    expect(matches(["2001:db8::/96"], "2001:db8::ffff:ffff")).toBe(true);
    expect(matches(["2001:db8::/127"], "2001:db8::1")).toBe(true);
    expect(matches(["2001:db8::/127"], "2001:db8::2")).toBe(false);
    expect(matches(["2001:db8::1"], "2001:db8::1")).toBe(true);
    expect(matches(["2001:db8::1"], "2001:db8::1:0")).toBe(false);
  });

  it("an IPv4-mapped client address matches IPv4 ranges, and an IPv4 one matches a mapped range", () => {
    expect(matches(["10.0.0.0/8"], "::ffff:10.1.2.3")).toBe(true);
    expect(matches(["10.0.0.0/8"], "::ffff:a01:203")).toBe(true);
    expect(matches(["10.0.0.0/8"], "::ffff:11.1.2.3")).toBe(false);
    expect(matches(["::ffff:10.0.0.0/104"], "10.1.2.3")).toBe(true);
    expect(matches(["::ffff:10.0.0.0/104"], "::ffff:10.1.2.3")).toBe(true);
    expect(matches(["::ffff:0:0/96"], "203.0.113.7")).toBe(true);
  });

  it("keeps the families apart otherwise: ::/0 is every IPv6 address, 0.0.0.0/0 every IPv4 one", () => {
    expect(matches(["::/0"], "2001:db8::1")).toBe(true);
    expect(matches(["::/0"], "10.1.2.3")).toBe(false);
    expect(matches(["::/0"], "::ffff:10.1.2.3")).toBe(false);
    expect(matches(["0.0.0.0/0"], "2001:db8::1")).toBe(false);
    // IPv4-compatible (deprecated) and NAT64 forms are IPv6 addresses of their own.
    expect(matches(["10.0.0.0/8"], "::10.1.2.3")).toBe(false);
    expect(matches(["10.0.0.0/8"], "64:ff9b::10.1.2.3")).toBe(false);
  });

  it("looks in every range of a set", () => {
    const set = rangeSet(["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "fd00::/8"].map(range));
    for (const address of ["10.9.9.9", "192.168.3.4", "2001:db8::5", "fd12::1"]) {
      expect(inRanges(set, parseAddress(address) as never)).toBe(true);
    }
    for (const address of ["172.16.0.1", "2001:db9::", "fe80::1"]) {
      expect(inRanges(set, parseAddress(address) as never)).toBe(false);
    }
    expect(inRanges(rangeSet([]), parseAddress("10.0.0.1") as never)).toBe(false);
  });
});

describe("rangeCovers", () => {
  it("says whether one range holds all of another", () => {
    expect(rangeCovers(range("10.0.0.0/8"), range("10.1.0.0/16"))).toBe(true);
    expect(rangeCovers(range("10.0.0.0/8"), range("10.0.0.0/8"))).toBe(true);
    expect(rangeCovers(range("10.1.0.0/16"), range("10.0.0.0/8"))).toBe(false);
    expect(rangeCovers(range("10.0.0.0/8"), range("11.0.0.0/16"))).toBe(false);
    expect(rangeCovers(range("::ffff:10.0.0.0/104"), range("10.2.3.4"))).toBe(true);
    expect(rangeCovers(range("2001:db8::/32"), range("2001:db8:1::/48"))).toBe(true);
    expect(rangeCovers(range("::/0"), range("10.0.0.0/8"))).toBe(false);
  });
});
