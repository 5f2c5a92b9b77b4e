/**
 * The isolate's cluster health across config versions: targets are addressed by identity, so a
 * request that began before a publish ends on the target it began on, and the state is handed
 * over once per version, by key.
 */
import { describe, expect, it } from "vitest";
import { compileConfig } from "../../config/compile.ts";
import { type GatewayConfigInput, parseConfig } from "../../config/schema.ts";
import type { BreakerReport, ClusterBreaker } from "../../durable-objects/cluster-breaker.ts";
import type { BreakerView } from "../../lib/breaker/state.ts";
import type { CompiledCluster } from "../../lib/cluster/config.ts";
import { type ClusterHealth, ClusterHealthRegistry } from "./cluster-health.ts";

const A = "https://a.example";
const B = "https://b.example";
const C = "https://c.example";
const D = "https://d.example";

type ClusterInput = GatewayConfigInput["clusters"][string];

/** One version of cluster `name` with targets `urls`: a breaker unless `cluster` says otherwise. */
function version(name: string, label: string, urls: string[], cluster: Partial<ClusterInput> = {}): CompiledCluster {
  const input: GatewayConfigInput = {
    clusters: {
      [name]: { targets: urls.map((url) => ({ url })), breaker: { reportIntervalMs: 60_000, reportEveryRequests: 1_000 }, ...cluster },
    },
    routes: [{ id: "r", match: { path: "/r/*" }, cluster: name }],
  };
  const parsed = parseConfig(input, { allowPrivateUpstreams: false });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileConfig(parsed.config, label).clusters.get(name) as CompiledCluster;
}

const registry = new ClusterHealthRegistry();

let clusters = 0;
const freshName = () => `ch-${++clusters}-${crypto.randomUUID().slice(0, 6)}`;

/** A breaker object that records every report and answers with `view` (every target closed by default). */
function fakeObject(view: Partial<BreakerView> = {}) {
  const reports: BreakerReport[] = [];
  const namespace = {
    idFromName: (name: string) => name,
    get: () => ({
      report: async (report: BreakerReport) => {
        reports.push(structuredClone(report));
        return { at: Date.now(), targets: {}, grants: {}, ...view };
      },
    }),
  } as unknown as DurableObjectNamespace<ClusterBreaker>;
  return { namespace, reports };
}

/** Sends the pending outcomes to `namespace` now (each call a later clock, so the report is due), and applies the answer. */
let reportClock = 0;
async function reportNow(health: ClusterHealth, namespace: DurableObjectNamespace<ClusterBreaker>): Promise<void> {
  reportClock += 1;
  const work: Promise<unknown>[] = [];
  health.maybeReport(Date.now() + reportClock * 3_600_000, namespace, (p) => work.push(p));
  expect(work).toHaveLength(1);
  await Promise.all(work);
}

const isolateView = (name: string) => registry.tracker(name)?.snapshot(Date.now());

describe("cluster health across config versions", () => {
  it("a request on a target the new version removed ends without an error, and the target is dropped after it", () => {
    const name = freshName();
    const v1 = version(name, "v1", [A, B, C]);
    const v2 = version(name, "v2", [B, C]);
    const h1 = registry.healthFor(v1) as ClusterHealth;
    const onC = h1.begin(2);
    const onA = h1.begin(0);
    registry.healthFor(v2);

    expect(isolateView(name)?.targets[C]?.inFlight).toBe(1);
    expect(() => h1.end(2, onC, "success", 5)).not.toThrow();
    expect(isolateView(name)?.targets[C]?.inFlight).toBe(0);
    expect(isolateView(name)?.retiring?.[A]?.inFlight).toBe(1);
    expect(() => h1.end(0, onA, "failure", 5)).not.toThrow();
    expect(isolateView(name)?.retiring).toBeUndefined();
    expect(Object.keys(isolateView(name)?.targets ?? {})).toEqual([B, C]);
  });

  it("a reorder credits the attempt to its own target and leaves no target stuck at its in-flight cap", async () => {
    const name = freshName();
    const v1 = version(name, "v1", [A, B], { maxInFlightPerTarget: 1 });
    const v2 = version(name, "v2", [B, A], { maxInFlightPerTarget: 1 });
    const h1 = registry.healthFor(v1) as ClusterHealth;
    const lease = h1.begin(0); // A
    const h2 = registry.healthFor(v2) as ClusterHealth;
    expect(h2.routable(1, Date.now())).toBe(false); // A is at its cap: the request is still on it
    expect(h2.routable(0, Date.now())).toBe(true);
    h1.end(0, lease, "success", 5);

    expect(h2.routable(0, Date.now())).toBe(true);
    expect(h2.routable(1, Date.now())).toBe(true);
    expect(isolateView(name)?.targets[A]?.inFlight).toBe(0);
    expect(isolateView(name)?.targets[B]?.inFlight).toBe(0);

    const { namespace, reports } = fakeObject();
    await reportNow(h2, namespace);
    expect(reports[0]?.targets[A]?.requests).toBe(1);
    expect(reports[0]?.targets[B]).toBeUndefined();
    expect(reports[0]?.members).toEqual([B, A]);
  });

  it("requests of two versions interleaved keep every outcome, and the state is laid out once per version", async () => {
    const name = freshName();
    const v1 = version(name, "v1", [A, B]);
    const v2 = version(name, "v2", [B, A, C]);
    registry.healthFor(v1);
    registry.healthFor(v2);
    const indexOfA = new Map([
      [v1, 0],
      [v2, 1],
    ]);
    const open: Array<[ClusterHealth, number, string | null]> = [];
    for (let k = 0; k < 20; k++) {
      const cluster = k % 2 === 0 ? v1 : v2;
      const health = registry.healthFor(cluster) as ClusterHealth;
      const i = indexOfA.get(cluster) as number;
      open.push([health, i, health.begin(i)]);
      if (open.length === 3) {
        const [h, j, lease] = open.shift() as [ClusterHealth, number, string | null];
        h.end(j, lease, k % 3 === 0 ? "failure" : "success", 7);
      }
    }
    for (const [h, j, lease] of open) h.end(j, lease, "failure", 7);

    expect(isolateView(name)?.targets[A]?.inFlight).toBe(0);
    const { namespace, reports } = fakeObject();
    await reportNow(registry.healthFor(v1) as ClusterHealth, namespace);
    expect(reports[0]?.targets[A]?.requests).toBe(20);
    expect(reports[0]?.targets[B]).toBeUndefined();
    // The last installed version's members, whichever version's request reported.
    expect(reports[0]?.members).toEqual([B, A, C]);
  });
});

describe("hand-over to a new config version", () => {
  it("keeps a staying target's state, counts and unreported outcomes; drops a removed one after its last request; starts an added one closed", async () => {
    const name = freshName();
    const v1 = version(name, "v1", [A, B, C]);
    const h1 = registry.healthFor(v1) as ClusterHealth;
    const retryAt = Date.now() + 60_000;
    const object = fakeObject({ targets: { [B]: { state: "open", retryAt } } });
    await reportNow(h1, object.namespace);
    expect(isolateView(name)?.targets[B]?.state).toBe("open");

    const onA = h1.begin(0);
    h1.begin(0);
    h1.end(0, null, "failure", 5);
    h1.begin(0);
    h1.end(0, null, "success", 5);
    const onC = h1.begin(2);
    h1.begin(2);
    h1.end(2, null, "failure", 5); // unreported, and C is about to go

    const v2 = version(name, "v2", [B, A, D]);
    registry.install([v2]);
    const h2 = registry.healthFor(v2) as ClusterHealth;
    const view = isolateView(name);
    expect(view?.targets[B]?.state).toBe("open");
    expect(view?.targets[A]).toMatchObject({ state: "closed", inFlight: 1 });
    expect(view?.targets[D]).toMatchObject({ state: "closed", inFlight: 0 });
    expect(view?.retiring?.[C]?.inFlight).toBe(1);
    expect(h2.routable(0, Date.now())).toBe(false);
    expect(h2.routable(2, Date.now())).toBe(true);

    // Requests of the old version finish on their own targets; a later use of the old version
    // does not lay the state out again.
    h1.end(2, onC, "failure", 5);
    h1.end(0, onA, "success", 5);
    expect(registry.healthFor(v1)).toBe(h1);
    expect(isolateView(name)?.retiring).toBeUndefined();
    expect(isolateView(name)?.targets[A]?.inFlight).toBe(0);

    await reportNow(h2, object.namespace);
    const sent = object.reports.at(-1) as BreakerReport;
    expect(sent.members).toEqual([B, A, D]);
    expect(sent.targets[A]).toMatchObject({ requests: 3, failures: 1 });
    expect(sent.targets[C]).toBeUndefined();
    expect(sent.targets[D]).toBeUndefined();
  });

  it("a target removed and listed again while an old request is on it keeps one in-flight count", () => {
    const name = freshName();
    const v1 = version(name, "v1", [A, B], { maxInFlightPerTarget: 1 });
    const h1 = registry.healthFor(v1) as ClusterHealth;
    h1.begin(0);
    registry.healthFor(version(name, "v2", [B], { maxInFlightPerTarget: 1 }));
    const h3 = registry.healthFor(version(name, "v3", [A, B], { maxInFlightPerTarget: 1 })) as ClusterHealth;
    expect(h3.routable(0, Date.now())).toBe(false);
    h1.end(0, null, "success", 5);
    expect(h3.routable(0, Date.now())).toBe(true);
    expect(isolateView(name)?.targets[A]?.inFlight).toBe(0);
  });

  it("a version without a breaker returns every target to rotation and keeps the in-flight counts", async () => {
    const name = freshName();
    const v1 = version(name, "v1", [A, B], { maxInFlightPerTarget: 5 });
    const h1 = registry.healthFor(v1) as ClusterHealth;
    const object = fakeObject({ targets: { [A]: { state: "open", retryAt: Date.now() + 60_000 } } });
    await reportNow(h1, object.namespace);
    h1.begin(1);
    const v2 = version(name, "v2", [A, B], { breaker: undefined, maxInFlightPerTarget: 5 });
    registry.install([v2]);
    expect(isolateView(name)?.targets[A]?.state).toBe("closed");
    expect(isolateView(name)?.targets[B]?.inFlight).toBe(1);
    h1.end(1, null, "success", 5);
    expect(isolateView(name)?.targets[B]?.inFlight).toBe(0);
  });

  it("installs each version once, and a cluster without breaker or caps has no health", () => {
    const name = freshName();
    const v1 = version(name, "v1", [A], { breaker: undefined });
    registry.install([v1]);
    expect(registry.healthFor(v1)).toBeNull();
    expect(registry.tracker(name)).toBeUndefined();
    const v2 = version(name, "v2", [A]);
    registry.install([v2]);
    const h2 = registry.healthFor(v2);
    registry.install([v2]);
    expect(registry.healthFor(v2)).toBe(h2);
  });
});
