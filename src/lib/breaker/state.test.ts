import { describe, expect, it } from "vitest";
import { latencyBucket } from "./latency.ts";
import { type BreakerSettings, ClusterBreakerState, type OutcomeReport, PROBE_LEASE_MS } from "./state.ts";

const settings: BreakerSettings = {
  failureWeight: 0.6,
  latencyWeight: 0.4,
  threshold: 0.7,
  latencyBaselineMs: null,
  latencyFloorMs: 25,
  maxLatencyRatio: 4,
  halfLifeMs: 5_000,
  minRequests: 20,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
  ejectionJitter: 0,
  maxEjectionPercent: 50,
  probes: 3,
  probeSuccesses: 3,
};

const noJitter = () => 0;

interface Traffic {
  requests: number;
  failures?: number;
  latencyMs?: number;
}

function report(traffic: Record<string, Traffic>, wants: string[] = []): OutcomeReport {
  const targets: OutcomeReport["targets"] = {};
  for (const [key, t] of Object.entries(traffic)) {
    targets[key] = {
      requests: t.requests,
      failures: t.failures ?? 0,
      latency: { [latencyBucket(t.latencyMs ?? 20)]: t.requests },
      probes: [],
    };
  }
  return { targets, wants };
}

/** Runs `seconds` of traffic in 100 ms reports, evaluating after each; returns the time reached. */
function run(
  state: ClusterBreakerState,
  from: number,
  seconds: number,
  traffic: (now: number) => Record<string, Traffic>,
  s: BreakerSettings = settings,
): number {
  let now = from;
  for (let i = 0; i < seconds * 10; i++) {
    now += 100;
    state.ingest(report(traffic(now)), s, now, noJitter);
    state.evaluate(s, now, noJitter);
  }
  return now;
}

/** Takes a lease on `key` and reports one probe under it. */
function probe(state: ClusterBreakerState, key: string, ok: boolean, now: number, lease?: string): void {
  const id = lease ?? (state.grant([key], settings, now)[key] ?? [])[0];
  expect(id).toBeDefined();
  state.ingest(
    { targets: { [key]: { requests: 1, failures: ok ? 0 : 1, latency: {}, probes: [{ lease: id as string, ok }] } }, wants: [] },
    settings,
    now,
    noJitter,
  );
}

function fresh(keys: string[], now = 0): ClusterBreakerState {
  const state = ClusterBreakerState.restore(undefined);
  state.setTargets(keys, now);
  return state;
}

const healthy = (perTick = 10): Traffic => ({ requests: perTick, latencyMs: 20 });
const failing = (perTick = 10): Traffic => ({ requests: perTick, failures: perTick, latencyMs: 5 });

describe("cluster breaker state", () => {
  it("ejects a target that starts failing within a few half-lives, and leaves its healthy peers alone", () => {
    const state = fresh(["a", "b", "c"]);
    let now = run(state, 0, 10, () => ({ a: healthy(), b: healthy(), c: healthy() }));
    expect(Object.values(state.view(now).targets).every((t) => t.state === "closed")).toBe(true);

    const failingFrom = now;
    let ejectedAt: number | null = null;
    for (let i = 0; i < 100 && ejectedAt === null; i++) {
      now = run(state, now, 0.1, () => ({ a: healthy(), b: failing(), c: healthy() }));
      if (state.view(now).targets.b?.state === "open") ejectedAt = now;
    }
    expect(ejectedAt).not.toBeNull();
    // From 0% to the 50% failure rate that trips at normal latency takes one half-life.
    expect((ejectedAt as number) - failingFrom).toBeLessThanOrEqual(settings.halfLifeMs + 200);
    const view = state.view(now);
    expect(view.targets.a?.state).toBe("closed");
    expect(view.targets.c?.state).toBe("closed");
    expect(view.targets.b?.retryAt).toBe((ejectedAt as number) + settings.baseEjectionMs);
  });

  it("decides nothing below the minimum volume", () => {
    const state = fresh(["a", "b"]);
    // 1 request a second, all failing: the decayed volume stays near 7, under minRequests 20.
    let now = 0;
    for (let i = 0; i < 30; i++) {
      now += 1_000;
      state.ingest(report({ a: { requests: 1, failures: 1 }, b: { requests: 1 } }), settings, now, noJitter);
      state.evaluate(settings, now, noJitter);
    }
    expect(state.view(now).targets.a?.state).toBe("closed");
    expect(state.status().a?.score).toBeGreaterThanOrEqual(settings.threshold);
  });

  it("rides out one bad second and one slow second", () => {
    const state = fresh(["a", "b", "c"]);
    let now = run(state, 0, 20, () => ({ a: healthy(), b: healthy(), c: healthy() }));
    now = run(state, now, 1, () => ({ a: failing(), b: healthy(), c: healthy() }));
    now = run(state, now, 1, () => ({ a: healthy(), b: { requests: 10, latencyMs: 5_000 }, c: healthy() }));
    now = run(state, now, 10, () => ({ a: healthy(), b: healthy(), c: healthy() }));
    expect(Object.values(state.status()).map((t) => t.totals.ejections)).toEqual([0, 0, 0]);
    expect(state.view(now).targets.a?.state).toBe("closed");
  });

  it("ejects a target that stays several times slower than its peers", () => {
    const state = fresh(["a", "b", "c"]);
    let now = run(state, 0, 10, () => ({ a: healthy(), b: healthy(), c: healthy() }));
    const slowFrom = now;
    now = run(state, now, 10, () => ({ a: healthy(), b: healthy(), c: { requests: 10, latencyMs: 400 } }));
    const c = state.status().c;
    expect(c?.state).toBe("open");
    expect(c?.totals.ejections).toBe(1);
    expect(now - slowFrom).toBeGreaterThan(1_000);
  });

  it("never ejects more than the allowed share of a cluster, but always allows one", () => {
    const four = fresh(["a", "b", "c", "d"]);
    const now = run(four, 0, 20, () => ({ a: failing(), b: failing(), c: failing(), d: failing() }));
    const states = Object.values(four.view(now).targets).map((t) => t.state);
    expect(states.filter((s) => s !== "closed")).toHaveLength(2);

    const lone = fresh(["only"]);
    run(lone, 0, 10, () => ({ only: failing() }));
    expect(lone.status().only?.state).toBe("open");
  });

  it("turns half-open after the ejection and grants at most `probes` leases across every reporter", () => {
    const state = fresh(["a", "b"]);
    let now = run(state, 0, 10, () => ({ a: healthy(), b: failing() }));
    const retryAt = state.view(now).targets.b?.retryAt as number;
    expect(state.grant(["b"], settings, now)).toEqual({});

    now = retryAt;
    state.evaluate(settings, now, noJitter);
    expect(state.view(now).targets.b?.state).toBe("half-open");
    const granted = [];
    for (let isolate = 0; isolate < 10; isolate++) granted.push(...(state.grant(["b", "b"], settings, now).b ?? []));
    expect(granted).toHaveLength(settings.probes);
    expect(new Set(granted).size).toBe(settings.probes);

    // A lease never reported back stops counting after PROBE_LEASE_MS.
    now += PROBE_LEASE_MS;
    state.evaluate(settings, now, noJitter);
    expect(state.grant(["b"], settings, now).b).toHaveLength(1);
  });

  it("closes after enough successful probes, and starts the target with clean numbers", () => {
    const state = fresh(["a", "b"]);
    let now = run(state, 0, 10, () => ({ a: healthy(), b: failing() }));
    now = state.view(now).targets.b?.retryAt as number;
    state.evaluate(settings, now, noJitter);
    for (let i = 0; i < settings.probeSuccesses; i++) {
      probe(state, "b", true, now);
    }
    const b = state.status().b;
    expect(b?.state).toBe("closed");
    expect(b?.recentRequests).toBe(0);
    expect(b?.score).toBeNull();
    expect(b?.totals.probes).toBe(settings.probeSuccesses);
  });

  it("reopens on a failed probe for longer each time, and shortens again while healthy", () => {
    const state = fresh(["a", "b"]);
    let now = run(state, 0, 10, () => ({ a: healthy(), b: failing() }));
    const openFor: number[] = [];
    for (let round = 0; round < 3; round++) {
      const view = state.view(now).targets.b;
      expect(view?.state).toBe("open");
      openFor.push((view?.retryAt as number) - now);
      now = view?.retryAt as number;
      state.evaluate(settings, now, noJitter);
      probe(state, "b", false, now);
    }
    // The first was measured partway through its 10 s; the failed probes then doubled and tripled it.
    expect(openFor[0]).toBeLessThanOrEqual(10_000);
    expect(openFor.slice(1)).toEqual([20_000, 30_000]);
    expect(state.status().b?.ejectionMultiplier).toBe(4);

    // Recovered: three good probes close it; each base interval healthy takes one step off.
    now = state.view(now).targets.b?.retryAt as number;
    state.evaluate(settings, now, noJitter);
    for (let i = 0; i < 3; i++) {
      probe(state, "b", true, now);
    }
    now = run(state, now, 25, () => ({ a: healthy(), b: healthy() }));
    expect(state.status().b?.ejectionMultiplier).toBe(2);
  });

  it("ignores probe results under leases it did not issue", () => {
    const state = fresh(["a", "b"]);
    let now = run(state, 0, 10, () => ({ a: healthy(), b: failing() }));
    now = state.view(now).targets.b?.retryAt as number;
    state.evaluate(settings, now, noJitter);
    probe(state, "b", true, now, "forged");
    expect(state.status().b?.state).toBe("half-open");
  });

  it("survives serialization, and drops targets the cluster no longer has", () => {
    const state = fresh(["a", "b"]);
    const now = run(state, 0, 10, () => ({ a: healthy(), b: failing() }));
    const restored = ClusterBreakerState.restore(JSON.parse(JSON.stringify(state.toJSON())));
    expect(restored.view(now)).toEqual(state.view(now));
    expect(restored.status()).toEqual(state.status());
    restored.setTargets(["a", "c"], now);
    expect(Object.keys(restored.view(now).targets)).toEqual(["a", "c"]);
    expect(ClusterBreakerState.restore({ v: 99 }).view(now).targets).toEqual({});
  });

  it("adopts another view's states, keeping its own counts", () => {
    const authority = fresh(["a", "b"]);
    const now = run(authority, 0, 10, () => ({ a: healthy(), b: failing() }));
    const local = fresh(["a", "b"]);
    run(local, 0, 2, () => ({ a: healthy(), b: healthy() }));
    local.adopt(authority.view(now), now);
    expect(local.view(now).targets).toEqual(authority.view(now).targets);
    expect(local.status().a?.totals.requests).toBe(200);
  });

  it("distrusts nonsense in a report", () => {
    const state = fresh(["a"]);
    state.ingest(
      {
        targets: {
          a: { requests: -5, failures: 1e9, latency: {}, probes: [] },
          ghost: { requests: 5, failures: 5, latency: {}, probes: [] },
        },
        wants: [],
      },
      settings,
      100,
      noJitter,
    );
    expect(state.status().a?.totals).toEqual({ requests: 0, failures: 0, ejections: 0, probes: 0 });
    expect(state.status().ghost).toBeUndefined();
  });
});
