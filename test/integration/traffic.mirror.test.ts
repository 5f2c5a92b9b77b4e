/**
 * Shadow traffic against real origins: the mirror gets the sampled share with bodies up to its
 * limit, and a hanging or failing mirror changes nothing for the client or the primary's breaker.
 */
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { type Backend, QUICK_BREAKER, setBackend, sleep, startBackends, targetState, until } from "../breaker-support.ts";
import { applyConfig, gateway, origin, originHits } from "../support.ts";

type Mirror = NonNullable<GatewayConfigInput["routes"][number]["mirror"]>;

function mirrorConfig(primary: Backend, mirrorUrl: string, mirror: Partial<Mirror> = {}, breaker = false): GatewayConfigInput {
  return {
    clusters: {
      primary: { targets: [{ url: primary.url }], ...(breaker ? { breaker: { ...QUICK_BREAKER, minRequests: 1000 } } : {}) },
      shadow: { targets: [{ url: mirrorUrl }] },
    },
    routes: [
      {
        id: "mirrored",
        match: { path: "/m/*" },
        cluster: "primary",
        rewrite: { stripPrefix: "/m" },
        mirror: { cluster: "shadow", ...mirror },
      },
    ],
  };
}

async function received(key: string): Promise<number> {
  return ((await (await fetch(`${origin}/__control/received?id=${key}`)).json()) as { bytes: number }).bytes;
}

describe("shadow traffic", () => {
  it("copies the sampled share to the mirror, in the background", async () => {
    const [primary] = (await startBackends(1)) as [Backend];
    await applyConfig(mirrorConfig(primary, origin, { percent: 25 }));
    const key = crypto.randomUUID();
    for (let i = 0; i < 800; i += 50) {
      const wave = await Promise.all(Array.from({ length: 50 }, () => gateway(`/m/mirror-sink?key=${key}`)));
      expect(wave.every((r) => r.status === 200)).toBe(true);
      await Promise.all(wave.map((r) => r.text()));
    }
    await sleep(300);
    // Binomial(800, 0.25): mean 200, standard deviation about 12.2.
    expect(Math.abs((await originHits(key)) - 200)).toBeLessThan(5 * 12.2);
  });

  it("copies a body within the mirror's limit, and skips requests whose body is larger", async () => {
    const [primary] = (await startBackends(1)) as [Backend];
    await applyConfig(mirrorConfig(primary, origin, { maxBodyBytes: 1024 }));
    const small = crypto.randomUUID();
    const response = await gateway(`/m/mirror-sink?key=${small}`, { method: "POST", body: "x".repeat(700) });
    expect(response.status).toBe(200);
    await response.text();
    await until(
      async () => (await originHits(small)) === 1,
      () => sleep(20),
      3_000,
    );
    expect(await received(small)).toBe(700);

    const large = crypto.randomUUID();
    const big = await gateway(`/m/mirror-sink?key=${large}`, { method: "POST", body: "x".repeat(5_000) });
    expect(big.status).toBe(200);
    await big.text();
    await sleep(300);
    expect(await originHits(large)).toBe(0);
  });

  it("does not slow the client down or change its answer when the mirror hangs or fails", async () => {
    const [primary, mirror] = (await startBackends(2)) as [Backend, Backend];
    for (const mode of ["hang", "error", "reset"] as const) {
      await setBackend(mirror, mode);
      await applyConfig(mirrorConfig(primary, mirror.url, { timeoutMs: 3_000 }));
      const started = Date.now();
      const responses = await Promise.all(Array.from({ length: 10 }, () => gateway("/m/item")));
      expect(Date.now() - started).toBeLessThan(1_000);
      for (const r of responses) {
        expect(r.status).toBe(200);
        expect(((await r.json()) as { backend: number }).backend).toBe(primary.id);
      }
    }
  });

  it("never counts the mirror's failures against the primary's breaker", async () => {
    const [primary, mirror] = (await startBackends(2)) as [Backend, Backend];
    await setBackend(mirror, "error");
    await applyConfig(mirrorConfig(primary, mirror.url, {}, true));
    for (let i = 0; i < 5; i++) {
      await Promise.all(Array.from({ length: 10 }, () => gateway("/m/item").then((r) => r.text())));
      await sleep(120);
    }
    await until(
      async () => ((await targetState("primary", primary)).totals?.requests ?? 0) >= 50,
      () => gateway("/m/item").then((r) => r.text()),
    );
    const state = await targetState("primary", primary);
    expect(state.state).toBe("closed");
    expect(state.totals?.failures).toBe(0);
  });
});
