import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  BackgroundWork,
  freshName,
  installRoute,
  laterStages,
  recordingStageApp,
  type StageRoute,
  send,
} from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import type { ClusterHealth } from "../../services/breaker/cluster-health.ts";
import { breaker } from "./index.ts";

type ClusterInput = GatewayConfigInput["clusters"][string];

// Without a BREAKER binding each isolate judges its targets alone: the tests drive that judge
// through the health's public API, and no shared object can overrule it in the background.
const unbound: Bindings = { CONFIG: env.CONFIG };

/** One cluster of one target, with one route to it; `cluster` adds a breaker or caps. */
function clusterRoute(cluster: Partial<ClusterInput>): StageRoute {
  const name = freshName("bk");
  return installRoute({
    clusters: { [name]: { targets: [{ url: "http://127.0.0.1:9" }], ...cluster } },
    routes: [{ id: name, match: { path: "/*" }, cluster: name }],
  });
}

function breakerApp(routed: StageRoute, later = laterStages()) {
  return { ...recordingStageApp(breaker, routed, later.handler), later };
}

/** Reports `failures` failed attempts on target 0 and lets the isolate judge them, as the proxy and the stage would. */
async function failTarget(health: ClusterHealth, failures: number): Promise<void> {
  for (let i = 0; i < failures; i++) {
    const lease = health.begin(0);
    health.end(0, lease, "failure", 5);
  }
  const work = new BackgroundWork();
  health.maybeReport(Date.now(), undefined, (p) => work.waitUntil(p));
  await work.settled();
}

const EJECTING = { minRequests: 3, baseEjectionSec: 60, ejectionJitter: 0, maxEjectionPercent: 100 };

describe("breaker stage", () => {
  it("passes a cluster without breaker or caps straight through, with clusterHealth null", async () => {
    const routed = clusterRoute({});
    const { app, later, records } = breakerApp(routed);
    expect((await send(app, "/", {}, unbound)).status).toBe(200);
    expect(later.seen[0]?.clusterHealth).toBeNull();
    expect(records[0]?.breaker).toBeNull();
  });

  it("routes to a healthy cluster, handing on its health and counting the request in flight until the later stages end", async () => {
    const routed = clusterRoute({ breaker: EJECTING });
    const health = routed.clusterRuntime.health as ClusterHealth;
    const inFlight: number[] = [];
    const later = laterStages(() => {
      inFlight.push(health.snapshot(Date.now()).inFlight);
      return new Response("ok");
    });
    const { app, records } = breakerApp(routed, later);
    expect((await send(app, "/", {}, unbound)).status).toBe(200);
    expect(later.seen[0]?.clusterHealth).toBe(health);
    expect(inFlight).toEqual([1]);
    expect(health.snapshot(Date.now()).inFlight).toBe(0);
    expect(records[0]?.breaker).toBe("routed");
  });

  it("refuses with 503 no-healthy-upstream and Retry-After once every target is ejected, without reaching later stages", async () => {
    const routed = clusterRoute({ breaker: EJECTING });
    const health = routed.clusterRuntime.health as ClusterHealth;
    await failTarget(health, 5);
    expect(health.routable(0, Date.now())).toBe(false);
    const { app, later, records } = breakerApp(routed);
    const response = await send(app, "/", {}, unbound);
    await expectProblem(response, 503, "no-healthy-upstream");
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(55);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(later.calls).toBe(0);
    expect(records[0]?.breaker).toBe("no-healthy-upstream");
  });

  it("sheds load with 503 upstream-overloaded past the cluster's in-flight cap, and admits again once a slot frees", async () => {
    const routed = clusterRoute({ maxInFlight: 1 });
    const gate = Promise.withResolvers<void>();
    const later = laterStages(async (_c, call) => {
      if (call === 1) await gate.promise;
      return new Response("ok");
    });
    const { app, records } = breakerApp(routed, later);
    const first = send(app, "/", {}, unbound);
    await expect.poll(() => later.calls).toBe(1);
    const shed = await send(app, "/", {}, unbound);
    await expectProblem(shed, 503, "upstream-overloaded");
    expect(shed.headers.get("retry-after")).toBe("1");
    expect(records[1]?.breaker).toBe("upstream-overloaded");
    gate.resolve();
    expect((await first).status).toBe(200);
    expect((await send(app, "/", {}, unbound)).status).toBe(200);
    expect(later.calls).toBe(2);
  });

  it("frees the in-flight slot when a later stage fails", async () => {
    const routed = clusterRoute({ maxInFlight: 1 });
    const later = laterStages((_c, call) => {
      if (call === 1) throw new GatewayError("upstream-timeout", "The upstream did not answer in time.");
      return new Response("ok");
    });
    const { app, records } = breakerApp(routed, later);
    await expectProblem(await send(app, "/", {}, unbound), 504, "upstream-timeout");
    expect(records[0]?.breaker).toBe("routed");
    expect((routed.clusterRuntime.health as ClusterHealth).snapshot(Date.now()).inFlight).toBe(0);
    expect((await send(app, "/", {}, unbound)).status).toBe(200);
  });
});
