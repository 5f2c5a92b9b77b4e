/**
 * Weighted splits against real backends that say who answered: shares within statistical
 * tolerance, sticky callers staying on one side, the test override, and moving a share by publish.
 */
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { type Backend, startBackends } from "../breaker-support.ts";
import { applyConfig, gateway } from "../support.ts";

type Split = NonNullable<GatewayConfigInput["routes"][number]["split"]>;

function splitConfig(stable: Backend, canary: Backend, split: Split): GatewayConfigInput {
  return {
    clusters: { stable: { targets: [{ url: stable.url }] }, canary: { targets: [{ url: canary.url }] } },
    routes: [{ id: "split", match: { path: "/split/*" }, cluster: "stable", split }],
  };
}

async function side(init: RequestInit = {}): Promise<number> {
  const response = await gateway("/split/item", init);
  expect(response.status).toBe(200);
  return ((await response.json()) as { backend: number }).backend;
}

async function sides(n: number, init: (i: number) => RequestInit = () => ({})): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 50)
    out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => side(init(i + j))))));
  return out;
}

describe("weighted split", () => {
  it("sends each side its share, within five standard deviations over 2,000 requests", async () => {
    const [stable, canary] = (await startBackends(2)) as [Backend, Backend];
    await applyConfig(splitConfig(stable, canary, { to: [{ cluster: "canary", percent: 20 }] }));
    const answers = await sides(2_000);
    const onCanary = answers.filter((id) => id === canary.id).length;
    // Binomial(2000, 0.2): mean 400, standard deviation about 17.9.
    expect(onCanary).toBeGreaterThan(400 - 5 * 17.9);
    expect(onCanary).toBeLessThan(400 + 5 * 17.9);
    expect(answers.filter((id) => id !== canary.id && id !== stable.id)).toEqual([]);
  });

  it("keeps a sticky caller on one side, and the share of callers near the configured one", async () => {
    const [stable, canary] = (await startBackends(2)) as [Backend, Backend];
    await applyConfig(splitConfig(stable, canary, { to: [{ cluster: "canary", percent: 30 }], sticky: "header:x-user" }));
    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const seen = new Map<string, Set<number>>();
    for (let round = 0; round < 3; round++) {
      const answers = await sides(users.length, (i) => ({ headers: { "x-user": users[i] as string } }));
      answers.forEach((id, i) => {
        const user = users[i] as string;
        seen.set(user, (seen.get(user) ?? new Set()).add(id));
      });
    }
    expect([...seen.values()].every((ids) => ids.size === 1)).toBe(true);
    const onCanary = [...seen.values()].filter((ids) => ids.has(canary.id)).length;
    // Binomial(400, 0.3): mean 120, standard deviation about 9.2.
    expect(Math.abs(onCanary - 120)).toBeLessThan(5 * 9.2);

    // Moving from 30% to 60% is a publish; every caller who was on the canary stays there.
    await applyConfig(splitConfig(stable, canary, { to: [{ cluster: "canary", percent: 60 }], sticky: "header:x-user" }));
    const after = await sides(users.length, (i) => ({ headers: { "x-user": users[i] as string } }));
    after.forEach((id, i) => {
      if (seen.get(users[i] as string)?.has(canary.id)) expect(id).toBe(canary.id);
    });
    expect(Math.abs(after.filter((id) => id === canary.id).length - 240)).toBeLessThan(5 * 9.8);
  });

  it("sticks to a cookie too, and lets a header or cookie force a side for testing", async () => {
    const [stable, canary] = (await startBackends(2)) as [Backend, Backend];
    await applyConfig(
      splitConfig(stable, canary, {
        to: [{ cluster: "canary", percent: 1 }],
        sticky: "cookie:uid",
        override: { header: "x-canary", cookie: "canary" },
      }),
    );
    const byCookie = await sides(20, () => ({ headers: { cookie: "theme=dark; uid=fixed-user" } }));
    expect(new Set(byCookie).size).toBe(1);
    expect(await sides(20, () => ({ headers: { "x-canary": "canary" } }))).toEqual(Array(20).fill(canary.id));
    expect(await sides(20, () => ({ headers: { cookie: "canary=canary" } }))).toEqual(Array(20).fill(canary.id));
    expect(await sides(20, () => ({ headers: { "x-canary": "stable" } }))).toEqual(Array(20).fill(stable.id));
    // A name that is not one of the route's clusters forces nothing.
    expect(new Set(await sides(20, () => ({ headers: { "x-canary": "elsewhere", cookie: "uid=fixed-user" } }))).size).toBe(1);
  });

  it("sends everything to the canary at 100%, and nothing at 0%", async () => {
    const [stable, canary] = (await startBackends(2)) as [Backend, Backend];
    await applyConfig(splitConfig(stable, canary, { to: [{ cluster: "canary", percent: 100 }] }));
    expect(new Set(await sides(100))).toEqual(new Set([canary.id]));
    await applyConfig(splitConfig(stable, canary, { to: [{ cluster: "canary", percent: 0 }] }));
    expect(new Set(await sides(100))).toEqual(new Set([stable.id]));
  });
});
