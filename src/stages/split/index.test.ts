import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { installRoute, laterStages, type StageRoute, send, stageApp } from "../../../test/stage-support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Identity } from "../../lib/identity.ts";
import type { Variables } from "../../variables.ts";
import { split } from "./index.ts";

type RouteInput = GatewayConfigInput["routes"][number];
type SplitInput = NonNullable<RouteInput["split"]>;

/** Route `r` to cluster `stable`, with `split` moving traffic to `canary`; `other` is in the config but not in the split. */
function splitRoute(plan: SplitInput | undefined, route: Partial<RouteInput> = {}): StageRoute {
  return installRoute({
    clusters: {
      stable: { targets: [{ url: "http://127.0.0.1:9/stable" }] },
      canary: { targets: [{ url: "http://127.0.0.1:9/canary" }] },
      other: { targets: [{ url: "http://127.0.0.1:9/other" }] },
    },
    routes: [{ id: "r", match: { path: "/*" }, cluster: "stable", ...(plan && { split: plan }), ...route }],
  });
}

function splitApp(routed: StageRoute, vars: Partial<Variables> = {}) {
  const later = laterStages();
  return { app: stageApp(split, { ...routed.vars, ...vars }, later.handler), later };
}

/** The side a request landed on, checked for consistency: the cluster and its runtime are the same side's. */
function sideOf(routed: StageRoute, seen: Variables | undefined): string {
  if (seen === undefined) throw new Error("the later stages were not reached");
  const sides = routed.route.split?.sides ?? [];
  const index = sides.indexOf(seen.cluster);
  expect(index).not.toBe(-1);
  expect(seen.clusterRuntime).toBe(routed.runtime.splitSides[index]);
  expect(seen.record.cluster).toBe(seen.cluster.name);
  return seen.cluster.name;
}

describe("split stage", () => {
  it("keeps a caller on one side by its sticky key, and hands on that side's cluster and runtime", async () => {
    const routed = splitRoute({ to: [{ cluster: "canary", percent: 50 }], sticky: "header:x-user" });
    const { app, later } = splitApp(routed);
    const landed = new Map<string, string>();
    for (let user = 0; user < 40; user++) {
      for (let again = 0; again < 3; again++) await send(app, "/", { headers: { "x-user": `user-${user}` } }, env);
    }
    later.seen.forEach((seen, i) => {
      const user = `user-${Math.floor(i / 3)}`;
      const side = sideOf(routed, seen);
      expect(landed.get(user) ?? side).toBe(side);
      landed.set(user, side);
      expect(seen.record.split).toBe("sticky");
    });
    // At an even split, 40 callers all on one side would be a broken hash (odds of 2^-39).
    expect(new Set(landed.values())).toEqual(new Set(["stable", "canary"]));
    // The two sides' runtimes are distinct: the canary's health and balancer are its own.
    expect(routed.runtime.splitSides[0]).not.toBe(routed.runtime.splitSides[1]);
  });

  it("sends every request to a side with 100% and none to a side with 0%, whoever calls", async () => {
    const all = splitRoute({ to: [{ cluster: "canary", percent: 100 }] });
    const none = splitRoute({ to: [{ cluster: "canary", percent: 0 }] });
    for (const [routed, expected] of [
      [all, "canary"],
      [none, "stable"],
    ] as const) {
      const { app, later } = splitApp(routed);
      for (let i = 0; i < 20; i++) await send(app, "/", {}, env);
      expect(later.seen.map((seen) => sideOf(routed, seen))).toEqual(Array(20).fill(expected));
      expect(later.seen.every((seen) => seen.record.split === "random")).toBe(true);
    }
  });

  it("follows an override header that names a side of the split", async () => {
    const routed = splitRoute({ to: [{ cluster: "canary", percent: 0 }], sticky: "header:x-user", override: { header: "x-split" } });
    const { app, later } = splitApp(routed);
    await send(app, "/", { headers: { "x-split": " canary ", "x-user": "u-1" } }, env);
    expect(sideOf(routed, later.seen[0])).toBe("canary");
    expect(later.seen[0]?.record.split).toBe("override");
  });

  it("ignores an override naming a cluster outside the split: it cannot steer traffic anywhere else", async () => {
    const routed = splitRoute({ to: [{ cluster: "canary", percent: 0 }], override: { header: "x-split" } });
    const { app, later } = splitApp(routed);
    for (const named of ["other", "nonexistent", "", "CANARY"]) await send(app, "/", { headers: { "x-split": named } }, env);
    for (const seen of later.seen) {
      expect(sideOf(routed, seen)).toBe("stable");
      expect(seen.record.split).toBe("random");
    }
  });

  it("sticks to the authenticated subject when configured so", async () => {
    // The stage runs after authenticate: the identity is what it put on c.var.
    const routed = splitRoute({ to: [{ cluster: "canary", percent: 50 }], sticky: "subject" }, { auth: { apiKey: {} } });
    const sides = new Set<string>();
    for (let n = 0; n < 20; n++) {
      const identity: Identity = { method: "jwt", subject: `s-${n}`, consumer: null, scopes: new Set(), claims: {}, rateLimitKey: null };
      const { app, later } = splitApp(routed, { identity });
      for (let again = 0; again < 3; again++) await send(app, "/", {}, env);
      const landed = new Set(later.seen.map((seen) => sideOf(routed, seen)));
      expect(landed.size).toBe(1);
      expect(later.seen[0]?.record.split).toBe("sticky");
      sides.add([...landed][0] as string);
    }
    expect(sides.size).toBe(2);
  });

  it("leaves a route without a split on its own cluster", async () => {
    const routed = splitRoute(undefined);
    const { app, later } = splitApp(routed);
    await send(app, "/", { headers: { "x-split": "canary" } }, env);
    expect(later.seen[0]?.cluster.name).toBe("stable");
    expect(later.seen[0]?.clusterRuntime).toBe(routed.clusterRuntime);
    expect(later.seen[0]?.record.split).toBeNull();
  });
});
