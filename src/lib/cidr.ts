/**
 * IP addresses and CIDR ranges (RFC 4632 for IPv4, RFC 4291 section 2.3 for IPv6) as an address
 * filter reads them: parsed strictly, so what a config says is what it matches, and matched on
 * 32-bit words. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2) is the IPv4
 * host it maps, on either side: a client reported that way matches IPv4 ranges, and a range written
 * that way (a /96 or longer inside ::ffff:0:0/96) is the IPv4 range it maps. Every other IPv6 range,
 * ::/0 included, holds IPv6 addresses only: "every IPv6 client" is what ::/0 means to the people
 * who write it, and 0.0.0.0/0 is there for the IPv4 ones.
 */
import { parseDottedIPv4, parseIPv6 } from "./address.ts";

/** An address: IPv4 as one 32-bit word, IPv6 as four, most significant first. */
export interface IpAddress {
  family: 4 | 6;
  words: readonly number[];
}

/** A CIDR range: the network's words (its bits past the prefix are zero) and the prefix length. */
export interface CidrRange {
  family: 4 | 6;
  words: readonly number[];
  bits: number;
}

/** The mask of word `index` (of 32 bits) for a prefix of `bits`. */
function wordMask(bits: number, index: number): number {
  const take = bits - index * 32;
  if (take <= 0) return 0;
  if (take >= 32) return 0xffffffff;
  return (0xffffffff << (32 - take)) >>> 0;
}

/** Eight 16-bit groups as an address; an IPv4-mapped one as the IPv4 address it maps. */
function fromGroups(groups: readonly number[]): IpAddress {
  if (isMappedGroups(groups)) return { family: 4, words: [(groups[6] ?? 0) * 0x10000 + (groups[7] ?? 0)] };
  return { family: 6, words: fromGroupsV6(groups) };
}

/** ::ffff:0:0/96, the IPv4-mapped block. */
function isMappedGroups(groups: readonly number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

/**
 * A client address as the platform reports it (CF-Connecting-IP): dotted-decimal IPv4 or an IPv6
 * literal without brackets or zone; an IPv4-mapped IPv6 address is its IPv4 address. Undefined for
 * anything else (never sent by Cloudflare; a local run may pass on what a client wrote).
 */
export function parseAddress(text: string): IpAddress | undefined {
  if (text.includes(":")) {
    const groups = parseIPv6(text);
    return groups === undefined ? undefined : fromGroups(groups);
  }
  const value = parseDottedIPv4(text);
  return value === undefined ? undefined : { family: 4, words: [value] };
}

function dotted(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
}

/** RFC 5952 text of eight groups: lower-case hex, the longest run of two or more zero groups as `::`. */
function ipv6Text(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** A range as the canonical text a message shows: `10.0.0.0/8`, `2001:db8::/32`. */
export function rangeText(range: CidrRange): string {
  if (range.family === 4) return `${dotted(range.words[0] ?? 0)}/${range.bits}`;
  const groups = range.words.flatMap((word) => [word >>> 16, word & 0xffff]);
  return `${ipv6Text(groups)}/${range.bits}`;
}

export type CidrParse = { ok: true; range: CidrRange } | { ok: false; problem: string };

const PREFIX = /^(?:0|[1-9]\d{0,2})$/;

/**
 * A CIDR range, or a single address (a /32 or /128), as a config writes it. Strict: dotted-decimal
 * IPv4 only (no `10.1`, no octal), no brackets or zone, a decimal prefix length, and no address bits
 * set past the prefix (`10.1.2.3/8` is refused with the range it would be, rather than read as
 * 10.0.0.0/8: a typo there would otherwise widen or move the range unseen).
 */
export function parseCidr(text: string): CidrParse {
  if (/\s/.test(text)) return { ok: false, problem: "must not contain spaces" };
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (addressText.startsWith("[")) return { ok: false, problem: "must not be in brackets: write 2001:db8::/32, not [2001:db8::]/32" };
  if (addressText.includes("%")) return { ok: false, problem: "must not have an IPv6 zone (%...): a zone names one host's interface" };
  const v6 = addressText.includes(":");
  const groups = v6 ? parseIPv6(addressText) : undefined;
  const v4 = v6 ? undefined : parseDottedIPv4(addressText);
  if (v6 && groups === undefined) return { ok: false, problem: `'${addressText}' is not an IPv6 address` };
  if (!v6 && v4 === undefined) {
    return { ok: false, problem: `'${addressText}' is not an IPv4 address in dotted decimal (four numbers 0-255, no leading zeros)` };
  }
  const maxBits = v6 ? 128 : 32;
  let bits = maxBits;
  if (prefixText !== undefined) {
    if (!PREFIX.test(prefixText)) return { ok: false, problem: "must have a decimal prefix length after '/', without leading zeros" };
    bits = Number(prefixText);
    if (bits > maxBits) return { ok: false, problem: `has a prefix length over ${maxBits}` };
  }
  let range: CidrRange;
  let written: readonly number[];
  if (groups !== undefined && isMappedGroups(groups) && bits >= 96) {
    written = [(groups[6] ?? 0) * 0x10000 + (groups[7] ?? 0)];
    range = { family: 4, words: written.map((word, i) => (word & wordMask(bits - 96, i)) >>> 0), bits: bits - 96 };
  } else {
    written = groups === undefined ? [v4 as number] : fromGroupsV6(groups);
    range = { family: v6 ? 6 : 4, words: written.map((word, i) => (word & wordMask(bits, i)) >>> 0), bits };
  }
  if (range.words.some((word, i) => word !== written[i])) {
    const network = groups !== undefined && range.family === 4 ? `::ffff:${dotted(range.words[0] ?? 0)}/${bits}` : rangeText(range);
    return { ok: false, problem: `has address bits set past its /${bits} prefix: the range is ${network}` };
  }
  return { ok: true, range };
}

/** Four words of eight groups, as written (no IPv4 mapping). */
function fromGroupsV6(groups: readonly number[]): number[] {
  return [0, 1, 2, 3].map((i) => (groups[i * 2] ?? 0) * 0x10000 + (groups[i * 2 + 1] ?? 0));
}

/** Why `text` is not a CIDR range or address, or undefined when it is one: a config field's check. */
export function cidrProblem(text: string): string | undefined {
  const parsed = parseCidr(text);
  return parsed.ok ? undefined : parsed.problem;
}

/** Whether `outer` holds every address of `inner`. */
export function rangeCovers(outer: CidrRange, inner: CidrRange): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  return outer.words.every((word, i) => ((inner.words[i] ?? 0) & wordMask(outer.bits, i)) >>> 0 === word);
}

/**
 * Ranges compiled for matching: per family, each range's network words followed by its masks, in
 * one flat array, so a lookup walks numbers and allocates nothing.
 */
export interface RangeSet {
  v4: Uint32Array;
  v6: Uint32Array;
}

/** Compiles ranges for `inRanges`. */
export function rangeSet(ranges: readonly CidrRange[]): RangeSet {
  const v4: number[] = [];
  const v6: number[] = [];
  for (const range of ranges) {
    const out = range.family === 4 ? v4 : v6;
    out.push(...range.words, ...range.words.map((_, i) => wordMask(range.bits, i)));
  }
  return { v4: Uint32Array.from(v4), v6: Uint32Array.from(v6) };
}

/** Whether `address` is in any range of `set`. Linear in the ranges of its family. */
export function inRanges(set: RangeSet, address: IpAddress): boolean {
  const words = address.words;
  if (address.family === 4) {
    const value = words[0] ?? 0;
    const v4 = set.v4;
    for (let i = 0; i < v4.length; i += 2) if ((value & (v4[i + 1] as number)) >>> 0 === v4[i]) return true;
    return false;
  }
  const v6 = set.v6;
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0] = words;
  for (let i = 0; i < v6.length; i += 8) {
    if (
      (w0 & (v6[i + 4] as number)) >>> 0 === v6[i] &&
      (w1 & (v6[i + 5] as number)) >>> 0 === v6[i + 1] &&
      (w2 & (v6[i + 6] as number)) >>> 0 === v6[i + 2] &&
      (w3 & (v6[i + 7] as number)) >>> 0 === v6[i + 3]
    ) {
      return true;
    }
  }
  return false;
}
