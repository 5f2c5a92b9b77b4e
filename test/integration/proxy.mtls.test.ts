/**
 * Origin mTLS through the whole Worker. A cluster with `mtlsCertificate` sends every attempt
 * through that binding, however a request reaches it (the route's cluster, a split's side, a
 * mirror), retries included; a cluster without one uses the global fetch. The bindings here are local doubles (test/harness/mtls-double.ts, bound in
 * vitest.config.ts) that count what they carry and stamp it: they prove which fetch each attempt
 * used, not that a certificate was presented, which only Cloudflare can show.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { admin } from "../admin-support.ts";
import { sleep, until } from "../breaker-support.ts";
import { applyConfig, closedOrigin, expectProblem, gateway, origin, originHits } from "../support.ts";

type Double = "ORIGIN_MTLS" | "MIRROR_MTLS";

/** How many requests of `key` the double bound as `binding` carried. */
async function carried(binding: Double, key: string): Promise<number> {
  const doubles = env as unknown as Record<Double, Fetcher>;
  const response = await doubles[binding].fetch(`http://mtls-double.test/__double/calls?key=${key}`);
  return ((await response.json()) as { calls: number }).calls;
}

interface Echo {
  headers: Record<string, string>;
  bodyBytes: number;
}

type ClusterInput = GatewayConfigInput["clusters"][string];

/** `/s/*` to cluster `secure`, `/p/*` to cluster `plain`, both on the test origin. */
function twoClusters(secure: Partial<ClusterInput>, route: Partial<GatewayConfigInput["routes"][number]> = {}): GatewayConfigInput {
  return {
    clusters: {
      secure: { targets: [{ url: origin }], mtlsCertificate: "ORIGIN_MTLS", ...secure },
      plain: { targets: [{ url: origin }] },
    },
    routes: [
      { id: "secure", match: { path: "/s/*" }, cluster: "secure", rewrite: { stripPrefix: "/s" }, ...route },
      { id: "plain", match: { path: "/p/*" }, cluster: "plain", rewrite: { stripPrefix: "/p" }, ...route },
    ],
  };
}

describe("origin mTLS", () => {
  it("sends a cluster's requests through its certificate binding, and another cluster's through the global fetch", async () => {
    await applyConfig(twoClusters({}));
    const key = crypto.randomUUID();
    const secured = await gateway(`/s/echo?key=${key}`, { method: "POST", body: "x".repeat(100_000) });
    expect(secured.status).toBe(200);
    const echo = (await secured.json()) as Echo;
    expect(echo.headers["x-mtls-double"]).toBe("ORIGIN_MTLS");
    expect(echo.bodyBytes).toBe(100_000);
    expect(await carried("ORIGIN_MTLS", key)).toBe(1);
    expect(await originHits(key)).toBe(1);

    const other = crypto.randomUUID();
    const plain = await gateway(`/p/echo?key=${other}`);
    expect(plain.status).toBe(200);
    expect(((await plain.json()) as Echo).headers["x-mtls-double"]).toBeUndefined();
    expect(await carried("ORIGIN_MTLS", other)).toBe(0);
    expect(await originHits(other)).toBe(1);
  });

  it("sends a split's share through the binding of the cluster it is assigned to", async () => {
    await applyConfig({
      ...twoClusters({}),
      routes: [
        {
          id: "split",
          match: { path: "/x/*" },
          cluster: "plain",
          rewrite: { stripPrefix: "/x" },
          split: { to: [{ cluster: "secure", percent: 100 }] },
        },
      ],
    });
    const key = crypto.randomUUID();
    const response = await gateway(`/x/echo?key=${key}`);
    expect(((await response.json()) as Echo).headers["x-mtls-double"]).toBe("ORIGIN_MTLS");
    expect(await carried("ORIGIN_MTLS", key)).toBe(1);
  });

  it("sends every retry through the binding, after an error status or a failed connection", async () => {
    await applyConfig(twoClusters({}, { retry: { attempts: 2, on: ["connect-failure", "gateway-error"] } }));
    const statuses = crypto.randomUUID();
    const answered = await gateway(`/s/flaky?key=${statuses}&failures=2&status=503`);
    expect(await answered.json()).toEqual({ ok: true, hit: 3 });
    expect(await carried("ORIGIN_MTLS", statuses)).toBe(3);

    // A reset connection fails the binding's fetch as it fails the global one: a connect failure, retried.
    const resets = crypto.randomUUID();
    const recovered = await gateway(`/s/flaky?key=${resets}&failures=1&mode=reset`);
    expect(await recovered.json()).toEqual({ ok: true, hit: 2 });
    expect(await carried("ORIGIN_MTLS", resets)).toBe(2);

    const plain = crypto.randomUUID();
    expect((await gateway(`/p/flaky?key=${plain}&failures=2&status=503`)).status).toBe(200);
    expect(await originHits(plain)).toBe(3);
    expect(await carried("ORIGIN_MTLS", plain)).toBe(0);
  });

  it("answers a target the binding cannot reach as an unreachable upstream", async () => {
    await applyConfig(twoClusters({ targets: [{ url: closedOrigin }] }));
    const key = crypto.randomUUID();
    await expectProblem(await gateway(`/s/echo?key=${key}`), 502, "upstream-unavailable");
    expect(await carried("ORIGIN_MTLS", key)).toBe(1);
  });

  it("sends mirror copies through the mirror cluster's own binding, whatever the route's cluster uses", async () => {
    const cases: Array<{ primary?: Double; shadow?: Double; expected: Record<Double, number> }> = [
      { shadow: "MIRROR_MTLS", expected: { ORIGIN_MTLS: 0, MIRROR_MTLS: 1 } },
      { primary: "ORIGIN_MTLS", expected: { ORIGIN_MTLS: 1, MIRROR_MTLS: 0 } },
      { primary: "ORIGIN_MTLS", shadow: "MIRROR_MTLS", expected: { ORIGIN_MTLS: 1, MIRROR_MTLS: 1 } },
    ];
    for (const { primary, shadow, expected } of cases) {
      await applyConfig({
        clusters: {
          primary: { targets: [{ url: origin }], ...(primary && { mtlsCertificate: primary }) },
          shadow: { targets: [{ url: origin }], ...(shadow && { mtlsCertificate: shadow }) },
        },
        routes: [
          { id: "mirrored", match: { path: "/m/*" }, cluster: "primary", rewrite: { stripPrefix: "/m" }, mirror: { cluster: "shadow" } },
        ],
      });
      const key = crypto.randomUUID();
      const response = await gateway(`/m/mirror-sink?key=${key}`, { method: "POST", body: "copied" });
      expect(response.status).toBe(200);
      await response.text();
      await until(
        async () => (await originHits(key)) === 2,
        () => sleep(20),
        3_000,
      );
      expect({ ORIGIN_MTLS: await carried("ORIGIN_MTLS", key), MIRROR_MTLS: await carried("MIRROR_MTLS", key) }).toEqual(expected);
    }
  });

  it("is refused, where the deployment is known, naming a binding it lacks or one that cannot send requests", async () => {
    const validate = (mtlsCertificate: string) => admin("POST", "/config/validate", { body: twoClusters({ mtlsCertificate }) });
    const missing = await expectProblem(await validate("ORIGIN_MLTS"), 422, "invalid-config");
    expect(missing.issues).toEqual([
      { path: "clusters.secure.mtlsCertificate", message: "names the binding 'ORIGIN_MLTS', which this deployment does not have" },
    ]);
    // A secret, a KV namespace, a Durable Object namespace: bindings, but none of them can fetch.
    for (const other of ["ADMIN_TOKEN", "CONFIG", "BREAKER"]) {
      const problem = await expectProblem(await validate(other), 422, "invalid-config");
      expect(problem.issues).toEqual([
        { path: "clusters.secure.mtlsCertificate", message: expect.stringContaining("cannot send requests") },
      ]);
    }
    expect((await validate("ORIGIN_MTLS")).status).toBe(200);
  });
});
