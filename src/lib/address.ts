/**
 * Classifies upstream hosts. Literal addresses are judged by the IANA special-purpose address
 * registries (RFC 6890 and its updates): a block whose "Globally Reachable" is false is not a public
 * upstream. An IPv6 address that carries an IPv4 one (mapped, compatible, SIIT, NAT64, 6to4, Teredo,
 * ISATAP) is judged by the IPv4 address it delivers to. DNS names are resolved by the platform at
 * fetch time and cannot be checked from a Worker; only the names that by convention always reach the
 * machine itself or a cloud provider's instance metadata service are refused by name.
 */

/**
 * IPv4 blocks that are not globally reachable (IANA IPv4 special-purpose registry), plus multicast
 * and the reserved 240/4 (which holds the limited broadcast 255.255.255.255).
 */
const NON_PUBLIC_V4: ReadonlyArray<readonly [number, number]> = [
  [0x00000000, 8], // 0.0.0.0/8 "this network" (RFC 791)
  [0x0a000000, 8], // 10.0.0.0/8 private (RFC 1918)
  [0x64400000, 10], // 100.64.0.0/10 carrier-grade NAT (RFC 6598); Alibaba's metadata is 100.100.100.200
  [0x7f000000, 8], // 127.0.0.0/8 loopback (RFC 1122)
  [0xa9fe0000, 16], // 169.254.0.0/16 link-local (RFC 3927); most clouds' metadata is 169.254.169.254
  [0xac100000, 12], // 172.16.0.0/12 private (RFC 1918)
  [0xc0000000, 24], // 192.0.0.0/24 IETF protocol assignments (RFC 6890), but see GLOBAL_V4
  [0xc0000200, 24], // 192.0.2.0/24 TEST-NET-1 documentation (RFC 5737)
  [0xc0a80000, 16], // 192.168.0.0/16 private (RFC 1918)
  [0xc6120000, 15], // 198.18.0.0/15 benchmarking (RFC 2544)
  [0xc6336400, 24], // 198.51.100.0/24 TEST-NET-2 documentation (RFC 5737)
  [0xcb007100, 24], // 203.0.113.0/24 TEST-NET-3 documentation (RFC 5737)
  [0xe0000000, 4], // 224.0.0.0/4 multicast (RFC 5771)
  [0xf0000000, 4], // 240.0.0.0/4 reserved (RFC 1112), with 255.255.255.255 limited broadcast (RFC 919)
];

/**
 * Public addresses that a cloud platform answers itself, inside its network: Azure's WireServer
 * (168.63.129.16), which hands out VM configuration and health, is reachable from every Azure VM
 * though it is not in a special-purpose block.
 */
const PLATFORM_V4 = new Set([
  0xa83f8110, // 168.63.129.16 Azure WireServer
]);

/** Single addresses inside NON_PUBLIC_V4 that the registry marks globally reachable. */
const GLOBAL_V4 = new Set([
  0xc0000009, // 192.0.0.9 Port Control Protocol anycast (RFC 7723)
  0xc000000a, // 192.0.0.10 TURN anycast (RFC 8155)
]);

/**
 * Names that reach the machine itself or a cloud instance metadata service whatever the resolver.
 * `*.internal` is not among them as a suffix: operators route to real names such as
 * `api.internal.example.com`, and a private zone's names are for DNS to answer. Azure's instance
 * metadata has no name (only 169.254.169.254), Alibaba's is 100.100.100.200: both refused as literals.
 */
const NON_PUBLIC_NAMES = new Set([
  "localhost", // RFC 6761 section 6.3; *.localhost below
  "localhost.localdomain", // loopback in the default /etc/hosts of most Linux distributions
  "ip6-localhost", // ::1 in Debian's default /etc/hosts
  "ip6-loopback",
  "metadata.google.internal", // Google Cloud
  "metadata.goog",
  "metadata", // Google Cloud's resolvers answer the bare name with the metadata server
  "instance-data", // AWS EC2
  "instance-data.ec2.internal",
  "metadata.tencentyun.com", // Tencent Cloud
  "metadata.platformequinix.com", // Equinix Metal
  "metadata.packet.net", // Equinix Metal's former name
]);

function inRange(value: number, base: number, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (value & mask) >>> 0 === base;
}

function isNonPublicIPv4(value: number): boolean {
  if (PLATFORM_V4.has(value)) return true;
  if (GLOBAL_V4.has(value)) return false;
  return NON_PUBLIC_V4.some(([base, bits]) => inRange(value, base, bits));
}

/** One part of an inet_aton address: decimal, octal with a leading 0, or hex with 0x. */
function parseIPv4Part(part: string): number | undefined {
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (/^0[0-7]+$/.test(part)) return Number.parseInt(part, 8);
  if (/^(?:0|[1-9]\d*)$/.test(part)) return Number(part);
  return undefined;
}

/**
 * Parses every IPv4 spelling that inet_aton and the WHATWG URL parser accept (`2130706433`,
 * `0x7f000001`, `0177.0.0.1`, `127.1`, `10.1.2`): one to four parts, the last one filling the
 * remaining bytes. The URL parser already rewrites these to dotted decimal; parsing them here too
 * keeps the check right for a host that did not come from `URL.hostname`.
 */
function parseIPv4(host: string): number | undefined {
  const parts = host.split(".");
  if (parts.length > 4) return undefined;
  const numbers = parts.map(parseIPv4Part);
  if (numbers.some((n) => n === undefined)) return undefined;
  const values = numbers as number[];
  const last = values.pop() ?? 0;
  if (values.some((n) => n > 255) || last >= 256 ** (4 - values.length)) return undefined;
  return values.reduce((sum, n, i) => sum + n * 256 ** (3 - i), 0) + last;
}

/**
 * True when a name would be taken for an IPv4 address: its last label is numeric (WHATWG URL
 * "ends in a number"). Such a host that does not parse is malformed, not a DNS name.
 */
function endsInNumber(host: string): boolean {
  const last = host.slice(host.lastIndexOf(".") + 1);
  return /^(?:\d+|0x[0-9a-f]*)$/i.test(last);
}

/**
 * An IPv4 address in the one spelling RFC 4291 and CF-Connecting-IP use: four decimal parts 0-255,
 * without leading zeros (inet_aton would read `010` as octal 8, so a zero-led part is refused rather
 * than guessed); its 32-bit value, or undefined.
 */
export function parseDottedIPv4(text: string): number | undefined {
  if (!/^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$/.test(text)) return undefined;
  return parseIPv4(text);
}

/** Expands an IPv6 literal (without brackets or zone) to eight 16-bit groups, or undefined. */
export function parseIPv6(host: string): number[] | undefined {
  let text = host;
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two groups; RFC 4291 allows only dotted decimal.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!/^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$/.test(tail)) return undefined;
    const v4 = parseIPv4(tail);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups: number[] = [];
  for (const g of [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest]) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    groups.push(Number.parseInt(g, 16));
  }
  return groups;
}

/** Globally reachable blocks inside 2001::/23 (IANA IPv6 special-purpose registry): [groups, bits]. */
const GLOBAL_IN_2001_23: ReadonlyArray<readonly [readonly number[], number]> = [
  [[0x2001, 0x0001, 0, 0, 0, 0, 0, 1], 128], // 2001:1::1 Port Control Protocol anycast
  [[0x2001, 0x0001, 0, 0, 0, 0, 0, 2], 128], // 2001:1::2 TURN anycast
  [[0x2001, 0x0001, 0, 0, 0, 0, 0, 3], 128], // 2001:1::3 DNS-SD service registration anycast
  [[0x2001, 0x0003], 32], // 2001:3::/32 AMT
  [[0x2001, 0x0004, 0x0112], 48], // 2001:4:112::/48 AS112-v6
  [[0x2001, 0x0020], 28], // 2001:20::/28 ORCHIDv2
  [[0x2001, 0x0030], 28], // 2001:30::/28 drone remote ID
];

function inRangeV6(g: readonly number[], base: readonly number[], bits: number): boolean {
  for (let i = 0; i * 16 < bits; i++) {
    const take = Math.min(16, bits - i * 16);
    const mask = (0xffff << (16 - take)) & 0xffff;
    if (((g[i] ?? 0) & mask) !== ((base[i] ?? 0) & mask)) return false;
  }
  return true;
}

const v4Of = (high: number, low: number) => high * 0x10000 + low;

function isNonPublicIPv6(g: readonly number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const tail = v4Of(g6, g7);
  // Forms whose last 32 bits are the IPv4 address the packet is delivered to. :: and ::1 are
  // IPv4-compatible 0.0.0.0 and 0.0.0.1, which "this network" refuses.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) {
    if (g4 === 0 && g5 === 0) return isNonPublicIPv4(tail); // ::a.b.c.d IPv4-compatible (RFC 4291, deprecated)
    if (g4 === 0 && g5 === 0xffff) return isNonPublicIPv4(tail); // ::ffff:a.b.c.d IPv4-mapped (RFC 4291)
    if (g4 === 0xffff && g5 === 0) return isNonPublicIPv4(tail); // ::ffff:0:a.b.c.d IPv4-translated (SIIT, RFC 2765)
    return true; // the rest of ::/64 is unassigned
  }
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052); the local-use 64:ff9b:1::/48 (RFC 8215) is not
  // globally reachable at all, and its translator may sit in front of any private network.
  if (inRangeV6(g, [0x64, 0xff9b, 0, 0, 0, 0], 96)) return isNonPublicIPv4(tail);
  if (inRangeV6(g, [0x64, 0xff9b, 1], 48)) return true;
  // ISATAP (RFC 5214): an interface id of 0000:5efe or 0200:5efe carries the IPv4 address of the
  // node, which the site's ISATAP router delivers to over IPv4, under any prefix.
  if ((g4 & 0xfdff) === 0 && g5 === 0x5efe && isNonPublicIPv4(tail)) return true;
  // 6to4 2002::/16 (RFC 3056): the site's IPv4 address in bits 16-47.
  if (g0 === 0x2002) return isNonPublicIPv4(v4Of(g1, g2));
  // Teredo 2001::/32 (RFC 4380): the server's IPv4 in bits 32-63, the client's one inverted in the last 32.
  if (g0 === 0x2001 && g1 === 0) return isNonPublicIPv4(v4Of(g2, g3)) || isNonPublicIPv4(~tail >>> 0);
  // The rest of 2001::/23 is IETF protocol assignments (benchmarking 2001:2::/48, deprecated ORCHID),
  // not globally reachable except the blocks the registry lists.
  if (inRangeV6(g, [0x2001], 23)) return !GLOBAL_IN_2001_23.some(([base, bits]) => inRangeV6(g, base, bits));
  if (inRangeV6(g, [0x2001, 0x0db8], 32)) return true; // documentation (RFC 3849)
  if (inRangeV6(g, [0x3fff], 20)) return true; // documentation (RFC 9637)
  // Global unicast is 2000::/3 (RFC 4291 section 2.4); everything else is either not public by
  // definition (100::/64 discard, 5f00::/16 SRv6, fc00::/7 unique local, fe80::/10 link-local,
  // fec0::/10 site-local, ff00::/8 multicast) or reserved by the IETF and unrouted.
  return (g0 & 0xe000) !== 0x2000;
}

/**
 * True when `hostname` is a loopback, link-local, private or otherwise non-public address, or a name
 * that always reaches one. Takes `URL.hostname` (lower case, IPv4 canonicalized, IPv6 in brackets)
 * and also a raw host: upper case, trailing dots, numeric IPv4 spellings and bare IPv6 are judged
 * the same. A malformed literal and an IPv6 zone id (RFC 6874, link-scoped by definition) count as
 * non-public, so a parser difference can only refuse, never admit.
 */
export function isNonPublicHost(hostname: string): boolean {
  // A fully qualified name ends in a dot (RFC 1034 section 3.1) and names the same host.
  const host = hostname.toLowerCase().replace(/\.+$/, "");
  if (host.startsWith("[") || host.includes(":")) {
    const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    if (literal.includes("%")) return true;
    const groups = parseIPv6(literal);
    return groups === undefined || isNonPublicIPv6(groups);
  }
  if (host === "" || NON_PUBLIC_NAMES.has(host) || host.endsWith(".localhost")) return true;
  const v4 = parseIPv4(host);
  if (v4 !== undefined) return isNonPublicIPv4(v4);
  return endsInNumber(host);
}
