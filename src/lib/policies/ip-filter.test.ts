import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/schema.ts";
import type { ConfigIssue } from "../config/fields.ts";
import { ipFilter } from "./ip-filter.ts";
import type { InboundOutcome, PolicyRequest } from "./types.ts";

function configWith(options: unknown) {
  return {
    clusters: { origin: { targets: [{ url: "https://origin.example.com" }] } },
    policies: { office: { use: "ip-filter", options } },
    routes: [{ id: "r", match: { path: "/*" }, cluster: "origin", policies: { inbound: ["office"] } }],
  };
}

function issuesOf(options: unknown): ConfigIssue[] {
  const result = parseConfig(configWith(options), { allowPrivateUpstreams: false });
  return result.ok ? [] : result.issues;
}

async function decide(options: unknown, clientIp: string | null): Promise<InboundOutcome> {
  const inbound = ipFilter.compile("office", v.parse(ipFilter.options, options)).inbound;
  if (inbound === null) throw new Error("no inbound step");
  const at: PolicyRequest = {
    request: new Request("https://gateway.test/x"),
    clientIp,
    requestId: "req-1",
    routeId: "r",
    params: {},
    identity: undefined,
    env: {},
    waitUntil: () => {},
  };
  return inbound(at);
}

/** The decision, and the status when it answered. */
async function outcome(options: unknown, clientIp: string | null): Promise<string> {
  const decided = await decide(options, clientIp);
  return decided.kind === "respond" ? `${decided.decision} ${decided.response.status}` : decided.decision;
}

describe("ip-filter: options", () => {
  it("acts early, on the request only, and names no binding", () => {
    const options = v.parse(ipFilter.options, { allow: ["10.0.0.0/8"] });
    expect(ipFilter.directions(options)).toEqual({ inbound: "early", outbound: false });
    expect(ipFilter.bindings(options)).toEqual([]);
  });

  it("needs allow, deny or both, each with at least one range", () => {
    expect(issuesOf({})).toEqual([{ path: "policies.office.options", message: "must set allow, deny or both" }]);
    expect(issuesOf({ allow: [] })).toEqual([
      { path: "policies.office.options.allow", message: "must name at least one range; leave it out for none" },
    ]);
    expect(issuesOf({ deny: "10.0.0.0/8" })[0]?.message).toBe("must be an array of CIDR ranges or addresses");
    expect(issuesOf({ deny: Array.from({ length: 1_001 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) })[0]?.message).toBe(
      "must have at most 1000 ranges",
    );
  });

  it("names each bad range by its place and says what is wrong", () => {
    expect(issuesOf({ allow: ["10.0.0.0/8", "10.1.2.3/8", "[2001:db8::]/32"], deny: ["2001:db8::/129", 7] })).toEqual([
      { path: "policies.office.options.allow[1]", message: "has address bits set past its /8 prefix: the range is 10.0.0.0/8" },
      { path: "policies.office.options.allow[2]", message: "must not be in brackets: write 2001:db8::/32, not [2001:db8::]/32" },
      { path: "policies.office.options.deny[0]", message: "has a prefix length over 128" },
      { path: "policies.office.options.deny[1]", message: "must be a string" },
    ]);
  });

  it("refuses an allow entry inside a denied range: deny wins, so it would admit nobody", () => {
    expect(issuesOf({ allow: ["10.1.0.0/16", "192.168.0.0/16", "::ffff:172.16.1.0/120"], deny: ["10.0.0.0/8", "172.16.0.0/12"] })).toEqual([
      {
        path: "policies.office.options.allow[0]",
        message: "is inside deny[0] (10.0.0.0/8), and deny wins: it admits no address",
      },
      {
        path: "policies.office.options.allow[2]",
        message: "is inside deny[1] (172.16.0.0/12), and deny wins: it admits no address",
      },
    ]);
    // A deny range inside an allowed one is the usual carve-out.
    expect(issuesOf({ allow: ["10.0.0.0/8"], deny: ["10.66.0.0/16"] })).toEqual([]);
  });
});

describe("ip-filter: decisions", () => {
  const office = { allow: ["198.51.100.0/24", "2001:db8:1::/48"], deny: ["198.51.100.66", "2001:db8:1:bad::/64"] };

  it.each([
    ["an IPv4 address in allow", "198.51.100.7", "allowed"],
    ["an IPv4 address outside allow", "203.0.113.7", "not-allowed 403"],
    ["an IPv4 address in deny (and in allow: deny wins)", "198.51.100.66", "denied 403"],
    ["an IPv6 address in allow", "2001:db8:1:2::9", "allowed"],
    ["an IPv6 address in deny inside allow", "2001:db8:1:bad::1", "denied 403"],
    ["an IPv6 address outside allow", "2001:db8:2::1", "not-allowed 403"],
    ["an IPv4-mapped IPv6 address in allow", "::ffff:198.51.100.7", "allowed"],
    ["an IPv4-mapped IPv6 address in deny", "::ffff:198.51.100.66", "denied 403"],
    ["an IPv4-mapped IPv6 address in hex", "::ffff:c633:6442", "denied 403"],
    ["no address", null, "no-address 403"],
    ["an address the platform never sends", "198.51.100.7, 10.0.0.1", "no-address 403"],
  ])("%s: %s", async (_, clientIp, expected) => {
    expect(await outcome(office, clientIp)).toBe(expected);
  });

  it("with only a deny list, admits every other address, and a request without one", async () => {
    const options = { deny: ["10.0.0.0/8", "fd00::/8"] };
    expect(await outcome(options, "10.1.2.3")).toBe("denied 403");
    expect(await outcome(options, "::ffff:10.1.2.3")).toBe("denied 403");
    expect(await outcome(options, "fd12::1")).toBe("denied 403");
    expect(await outcome(options, "11.1.2.3")).toBe("allowed");
    expect(await outcome(options, "2001:db8::1")).toBe("allowed");
    expect(await outcome(options, null)).toBe("no-address");
  });

  it("an IPv4 client matches a range written IPv4-mapped; ::/0 is every IPv6 address and no IPv4 one", async () => {
    expect(await outcome({ allow: ["::ffff:10.0.0.0/104"] }, "10.9.8.7")).toBe("allowed");
    expect(await outcome({ deny: ["::/0"] }, "10.9.8.7")).toBe("allowed");
    expect(await outcome({ deny: ["::/0"] }, "2606:4700::1")).toBe("denied 403");
    expect(await outcome({ allow: ["0.0.0.0/0"] }, "2606:4700::1")).toBe("not-allowed 403");
  });

  it("refuses with a 403 address-forbidden problem that says nothing of the lists", async () => {
    const decided = await decide({ allow: ["198.51.100.0/24"] }, "203.0.113.7");
    if (decided.kind !== "respond") throw new Error("expected an answer");
    expect(decided.response.status).toBe(403);
    expect(decided.response.headers.get("content-type")).toBe("application/problem+json");
    const body = await decided.response.text();
    expect(JSON.parse(body)).toMatchObject({ type: "urn:edgegate:problem:address-forbidden", status: 403, requestId: "req-1" });
    expect(body).not.toContain("198.51.100");
    expect(body).not.toContain("203.0.113.7");
  });
});
