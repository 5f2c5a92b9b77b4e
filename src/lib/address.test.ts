import { describe, expect, it } from "vitest";
import { isNonPublicHost } from "./address.ts";

const hostOf = (url: string) => new URL(url).hostname;

describe("isNonPublicHost", () => {
  it.each([
    "http://127.0.0.1",
    "http://127.8.9.10",
    "http://localhost",
    "http://api.localhost",
    "http://10.1.2.3",
    "http://172.16.0.1",
    "http://172.31.255.255",
    "http://192.168.1.1",
    "http://169.254.169.254",
    "http://100.64.0.1",
    "http://0.0.0.0",
    "http://[::1]",
    "http://[::]",
    "http://[fe80::1]",
    "http://[fd00::1]",
    "http://[::ffff:127.0.0.1]",
    "http://[::ffff:10.0.0.1]",
    // The WHATWG parser canonicalizes these forms to 127.0.0.1 before we look.
    "http://2130706433",
    "http://0x7f.1",
    "http://127.1",
  ])("%s is not public", (url) => {
    expect(isNonPublicHost(hostOf(url))).toBe(true);
  });

  it.each([
    "http://example.com",
    "http://8.8.8.8",
    "http://172.32.0.1",
    "http://192.169.0.1",
    "http://[2606:4700::1111]",
    "http://[::ffff:8.8.8.8]",
    "http://localhost.example.com",
  ])("%s is public", (url) => {
    expect(isNonPublicHost(hostOf(url))).toBe(false);
  });
});

describe("isNonPublicHost: IPv4 blocks the IANA special-purpose registry marks not globally reachable", () => {
  it.each([
    "0.0.0.0",
    "0.255.255.255",
    "100.127.255.255",
    "100.100.100.200", // Alibaba Cloud metadata
    "169.254.170.2", // ECS task metadata
    "192.0.0.1",
    "192.0.0.170",
    "192.0.2.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
  ])("%s is not public", (host) => {
    expect(isNonPublicHost(hostOf(`http://${host}`))).toBe(true);
  });

  it.each([
    "1.1.1.1",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "169.253.255.255",
    "172.15.255.255",
    "192.0.0.9", // PCP anycast, globally reachable per the registry
    "192.0.0.10", // TURN anycast
    "192.0.1.1",
    "192.0.3.1",
    "198.17.255.255",
    "198.20.0.0",
    "198.51.101.1",
    "203.0.112.255",
    "223.255.255.255",
  ])("%s is public", (host) => {
    expect(isNonPublicHost(hostOf(`http://${host}`))).toBe(false);
  });
});

describe("isNonPublicHost: IPv4 spellings resolvers accept", () => {
  // Each as the Worker's URL parser hands it over, and raw (as a caller outside URL might pass it).
  it.each([
    "2130706433",
    "0x7f000001",
    "0X7F000001",
    "0177.0.0.1",
    "0177.1",
    "0x7f.0.0.1",
    "127.1",
    "127.0.1",
    "10.1.2",
    "167772161", // 10.0.0.1
    "0xa9.0xfe.0xa9.0xfe", // 169.254.169.254
    "0251.0376.0251.0376",
    "2852039166",
    "127.0.0.1.",
    "127.0.0.1..",
    "0",
    "0x0",
    "127.0.0.%31",
    "１２７.０.０.１",
  ])("%s is not public, through URL and raw", (host) => {
    expect(isNonPublicHost(hostOf(`http://${host}`))).toBe(true);
    if (!host.includes("%") && !/[０-９]/.test(host)) expect(isNonPublicHost(host)).toBe(true);
  });

  it("treats a host that looks numeric but is no address as malformed, never as a name", () => {
    for (const host of ["1.2.3.09", "256.0.0.1", "0x7f.1.1.1.1", "1.2.3.4.5", "4294967296"]) {
      expect(isNonPublicHost(host)).toBe(true);
    }
    expect(isNonPublicHost("134744072")).toBe(false); // 8.8.8.8
    expect(isNonPublicHost("0x08080808")).toBe(false);
  });
});

describe("isNonPublicHost: IPv6 forms that embed an IPv4 address", () => {
  it.each([
    "::ffff:127.0.0.1", // IPv4-mapped, dotted
    "::ffff:7f00:1", // IPv4-mapped, hex
    "0:0:0:0:0:ffff:a9fe:a9fe",
    "::127.0.0.1", // IPv4-compatible
    "::a00:1",
    "::ffff:0:10.0.0.1", // SIIT IPv4-translated
    "::ffff:0:c0a8:1",
    "64:ff9b::10.0.0.1", // NAT64 well-known prefix
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b:1::808:808", // NAT64 local-use prefix: never public
    "64:ff9b:1:ffff::1",
    "2002:a00:1::1", // 6to4 of 10.0.0.1
    "2002:7f00:1::",
    "2002:a9fe:a9fe:1:2:3:4:5",
    "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
    "2001:0:a00:1:8000:63bf:f7f7:f7f7", // Teredo, server 10.0.0.1
    "2606:4700::5efe:10.0.0.1", // ISATAP
    "2606:4700::200:5efe:a9fe:a9fe",
    "fe80::5efe:c0a8:101",
  ])("[%s] is not public", (literal) => {
    expect(isNonPublicHost(hostOf(`http://[${literal}]`))).toBe(true);
    expect(isNonPublicHost(literal)).toBe(true);
  });

  it.each([
    "::ffff:8.8.8.8",
    "::ffff:808:808",
    "::ffff:0:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "64:ff9b::101:101",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo, client 8.8.8.8
    "2606:4700::5efe:8.8.8.8",
  ])("[%s] is public: the embedded address is", (literal) => {
    expect(isNonPublicHost(hostOf(`http://[${literal}]`))).toBe(false);
  });
});

describe("isNonPublicHost: IPv6 ranges that are not public", () => {
  it.each([
    "::",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::2:1",
    "100::1", // discard-only
    "100::ffff:ffff:ffff:ffff",
    "2001:2::1", // benchmarking
    "2001:10::1", // deprecated ORCHID
    "2001:1::4",
    "2001:db8::1", // documentation
    "2001:db8:ffff::1",
    "3fff::1",
    "3fff:fff::1",
    "5f00::1", // SRv6 SIDs
    "fc00::1", // unique local
    "fd00:ec2::254", // AWS metadata over IPv6
    "fe80::1", // link-local
    "febf::1",
    "fec0::1", // site-local
    "feff::1",
    "ff02::1", // multicast
    "ff05::2",
    "4000::1", // outside global unicast 2000::/3
    "e000::1",
  ])("[%s] is not public", (literal) => {
    expect(isNonPublicHost(hostOf(`http://[${literal}]`))).toBe(true);
  });

  it.each([
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2001:1::1", // PCP anycast, globally reachable per the registry
    "2001:3::1", // AMT
    "2001:4:112::1", // AS112-v6
    "2001:20::1", // ORCHIDv2
    "2001:200::1",
    "2001:db9::1",
    "2a00:1450:4001::200e",
    "3ffe::1",
    "3fff:1000::1",
  ])("[%s] is public", (literal) => {
    expect(isNonPublicHost(hostOf(`http://[${literal}]`))).toBe(false);
  });

  it("refuses zone ids and malformed literals, which the URL parser would not hand over", () => {
    expect(() => new URL("http://[fe80::1%25eth0]")).toThrow();
    for (const host of ["[fe80::1%eth0]", "fe80::1%25eth0", "[2606:4700::1%1]", "[1:2:3]", "[::ffff:127.0.0.01]", "[::g]", "[1::2::3]"]) {
      expect(isNonPublicHost(host)).toBe(true);
    }
    expect(isNonPublicHost("2606:4700::1111")).toBe(false);
    expect(isNonPublicHost("[2606:4700::1111]")).toBe(false);
  });
});

describe("isNonPublicHost: public addresses a cloud platform answers itself", () => {
  it.each(["168.63.129.16", "0xa8.0x3f.0x81.0x10", "2822734096", "[::ffff:168.63.129.16]", "[64:ff9b::a83f:8110]"])(
    "Azure's WireServer as %s is not public",
    (host) => {
      expect(isNonPublicHost(hostOf(`http://${host}/`))).toBe(true);
    },
  );

  it("its neighbours are", () => {
    expect(isNonPublicHost("168.63.129.15")).toBe(false);
    expect(isNonPublicHost("168.63.129.17")).toBe(false);
  });
});

describe("isNonPublicHost: names that always reach the machine or a cloud metadata service", () => {
  it.each([
    "localhost",
    "api.localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
    "metadata.packet.net",
  ])("%s is not public, in any case and with trailing dots", (name) => {
    for (const host of [name, `${name}.`, `${name}..`, name.toUpperCase(), `${name.toUpperCase()}.`]) {
      expect(isNonPublicHost(hostOf(`http://${host}/`))).toBe(true);
      expect(isNonPublicHost(host)).toBe(true);
    }
  });

  it.each([
    "api.internal.example.com", // real names under an internal zone are for DNS to answer
    "billing.internal",
    "metadata.example.com",
    "metadata.google.internal.example.com",
    "google.internal",
    "instance-data.example.com",
    "localhost.example.com",
    "mylocalhost",
    "example.com.",
  ])("%s is a DNS name like any other", (host) => {
    expect(isNonPublicHost(hostOf(`http://${host}/`))).toBe(false);
  });
});
