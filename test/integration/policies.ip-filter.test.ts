/**
 * ip-filter through the Worker: allow and deny lists of IPv4 and IPv6 ranges on CF-Connecting-IP,
 * IPv4-mapped IPv6 clients read as their IPv4 address, deny over allow, a request without an
 * address, the refusal (403 address-forbidden) before authentication and without calling the
 * origin, and each decision in the access log.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { AUDIENCE, ISSUER, identityProvider } from "../auth-support.ts";
import { linesDuring } from "../log-capture.ts";
import { applyConfig, expectProblem, gateway, origin, originHits } from "../support.ts";

const config: GatewayConfigInput = {
  observability: { accessLog: { sampleRate: 1 }, serverTiming: true },
  clusters: { origin: { targets: [{ url: origin }] } },
  jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/ip-filter-${crypto.randomUUID()}` } },
  policies: {
    office: {
      use: "ip-filter",
      options: { allow: ["198.51.100.0/24", "2001:db8:1::/48"], deny: ["198.51.100.66", "2001:db8:1:bad::/64"] },
    },
    blocklist: { use: "ip-filter", options: { deny: ["203.0.113.0/24", "2001:db8:bad::/48", "::ffff:192.0.2.0/120"] } },
  },
  routes: [
    { id: "office", match: { path: "/office/*" }, cluster: "origin", rewrite: { path: "/count" }, policies: { inbound: ["office"] } },
    { id: "public", match: { path: "/public/*" }, cluster: "origin", rewrite: { path: "/count" }, policies: { inbound: ["blocklist"] } },
    {
      id: "office-auth",
      match: { path: "/office-auth/*" },
      cluster: "origin",
      rewrite: { path: "/count" },
      auth: { jwt: "idp" },
      policies: { inbound: ["office"] },
    },
  ],
};

beforeAll(async () => {
  await applyConfig(config);
});

/** Calls `path` from `clientIp` (null: without CF-Connecting-IP), with a fresh counter key; the status, the origin's hits, and the log's decision. */
async function call(path: string, clientIp: string | null): Promise<{ status: number; hits: number; decision: unknown }> {
  const key = crypto.randomUUID();
  const url = `${path}?key=${key}`;
  let status = 0;
  const [line] = await linesDuring("access", async () => {
    const response =
      clientIp === null ? await exports.default.fetch(new Request(`http://gateway.test${url}`)) : await gateway(url, { clientIp });
    status = response.status;
    if (status === 403) await expectProblem(response, 403, "address-forbidden");
    else await response.text();
  });
  const policies = (line?.decisions as { policies?: Record<string, string> } | undefined)?.policies;
  return { status, hits: await originHits(key), decision: policies?.office ?? policies?.blocklist };
}

describe("ip-filter: an allow list with exceptions denied", () => {
  it.each([
    ["an IPv4 address in allow", "198.51.100.7", 200, "allowed"],
    ["an IPv4 address outside allow", "203.0.113.7", 403, "not-allowed"],
    ["an IPv4 address denied inside allow (deny wins)", "198.51.100.66", 403, "denied"],
    ["an IPv6 address in allow", "2001:db8:1:2::9", 200, "allowed"],
    ["an IPv6 address denied inside allow", "2001:db8:1:bad::1", 403, "denied"],
    ["an IPv6 address outside allow", "2001:db8:2::1", 403, "not-allowed"],
    ["an IPv4-mapped IPv6 address in allow", "::ffff:198.51.100.7", 200, "allowed"],
    ["an IPv4-mapped IPv6 address denied", "::ffff:198.51.100.66", 403, "denied"],
    ["an IPv4-mapped IPv6 address outside allow", "::ffff:203.0.113.7", 403, "not-allowed"],
  ])("%s (%s): %i %s", async (_, clientIp, status, decision) => {
    const result = await call("/office/x", clientIp);
    expect(result).toEqual({ status, hits: status === 200 ? 1 : 0, decision });
  });

  it("refuses a request without CF-Connecting-IP (never on Cloudflare; a local run) when there is an allow list", async () => {
    expect(await call("/office/x", null)).toEqual({ status: 403, hits: 0, decision: "no-address" });
  });

  it("refuses before authentication: a refused address is never asked for a credential", async () => {
    expect(await call("/office-auth/x", "203.0.113.7")).toMatchObject({ status: 403, hits: 0 });
    expect(await call("/office-auth/x", "198.51.100.7")).toMatchObject({ status: 401, hits: 0, decision: "allowed" });
  });

  it("says so in Server-Timing", async () => {
    const response = await gateway("/office/x", { clientIp: "203.0.113.7" });
    expect(response.headers.get("server-timing")).toContain('policy;desc="office:not-allowed"');
    await response.text();
  });
});

describe("ip-filter: a deny list alone", () => {
  it.each([
    ["an IPv4 address denied", "203.0.113.9", 403, "denied"],
    ["an IPv6 address denied", "2001:db8:bad:1::1", 403, "denied"],
    ["an IPv4-mapped client in a denied IPv4 range", "::ffff:203.0.113.9", 403, "denied"],
    ["an IPv4 client in a range written IPv4-mapped", "192.0.2.44", 403, "denied"],
    ["any other IPv4 address", "198.51.100.7", 200, "allowed"],
    ["any other IPv6 address", "2606:4700::1", 200, "allowed"],
  ])("%s (%s): %i %s", async (_, clientIp, status, decision) => {
    const result = await call("/public/x", clientIp);
    expect(result).toEqual({ status, hits: status === 200 ? 1 : 0, decision });
  });

  it("admits a request without CF-Connecting-IP: it is in no denied range", async () => {
    expect(await call("/public/x", null)).toEqual({ status: 200, hits: 1, decision: "no-address" });
  });
});
