/**
 * The circuit-breaker state machine of one cluster: per target closed -> open (ejected) ->
 * half-open -> closed, fed with batched outcome reports. Pure and serializable: the cluster's
 * Durable Object runs it as the shared authority, and an isolate runs its own copy on its own
 * outcomes when the object cannot be reached. Time and randomness come in as arguments.
 */
import { mergeHistogram, quantileMs, type SparseHistogram } from "./latency.ts";
import { decayFactor, ejectionMs, latencyBaseline, latencyRatio, maxEjected, type ScoreSettings, targetScore } from "./score.ts";

export type TargetState = "closed" | "open" | "half-open";

export interface BreakerSettings extends ScoreSettings {
  /** Half-life of the failure counts and of the smoothed p99. */
  halfLifeMs: number;
  /** Decayed request volume below which a target is never judged. */
  minRequests: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  ejectionJitter: number;
  maxEjectionPercent: number;
  /** Probe leases out at once for a half-open target, across every isolate. */
  probes: number;
  /** Successful probes that close a half-open target. */
  probeSuccesses: number;
}

/** A probe's result, naming the lease it was sent under. */
export interface ProbeResult {
  lease: string;
  ok: boolean;
}

/** One target's outcomes since the previous report. */
export interface TargetOutcomes {
  requests: number;
  failures: number;
  latency: SparseHistogram;
  probes: ProbeResult[];
}

export interface OutcomeReport {
  /** Outcomes by target key (the target's URL). */
  targets: Record<string, TargetOutcomes>;
  /** Targets the reporter would send a probe to if it held a lease. */
  wants: string[];
}

export interface TargetView {
  state: TargetState;
  /** Epoch ms at which an open target may be probed; null unless open. */
  retryAt: number | null;
}

/** What a reporter learns back: every target's state, and the probe leases granted to it. */
export interface BreakerView {
  at: number;
  targets: Record<string, TargetView>;
  grants: Record<string, string[]>;
}

/** Per target detail for operators. */
export interface TargetStatus extends TargetView {
  score: number | null;
  failureRate: number | null;
  p99Ms: number | null;
  /** Decayed request volume the score is computed over. */
  recentRequests: number;
  /** Consecutive-ejection multiplier: grows with each ejection, decays while healthy. */
  ejectionMultiplier: number;
  probesInFlight: number;
  totals: { requests: number; failures: number; ejections: number; probes: number };
}

interface Lease {
  id: string;
  expiresAt: number;
}

interface TargetRecord {
  state: TargetState;
  /** Decayed counts, as of `countsAt`. */
  requests: number;
  failures: number;
  countsAt: number;
  /** The latency window being filled, closed into `p99Ms` once `latencyWindowMs` old. */
  window: SparseHistogram;
  windowStart: number;
  /** p99 smoothed across windows with the half-life; null until a window closes. */
  p99Ms: number | null;
  multiplier: number;
  multiplierAt: number;
  retryAt: number | null;
  probeSuccesses: number;
  leases: Lease[];
  score: number | null;
  totals: { requests: number; failures: number; ejections: number; probes: number };
}

export interface SerializedBreakerState {
  v: 1;
  targets: Record<string, TargetRecord>;
  nextLease: number;
}

/** A lease the isolate never reports back (it went away) stops counting against the bound after this. */
export const PROBE_LEASE_MS = 30_000;

function freshRecord(now: number): TargetRecord {
  return {
    state: "closed",
    requests: 0,
    failures: 0,
    countsAt: now,
    window: {},
    windowStart: now,
    p99Ms: null,
    multiplier: 0,
    multiplierAt: now,
    retryAt: null,
    probeSuccesses: 0,
    leases: [],
    score: null,
    totals: { requests: 0, failures: 0, ejections: 0, probes: 0 },
  };
}

/** A latency window closes at most every second, sooner with a short half-life. */
function latencyWindowMs(settings: BreakerSettings): number {
  return Math.min(1_000, settings.halfLifeMs / 2);
}

export class ClusterBreakerState {
  readonly #targets: Map<string, TargetRecord>;
  #nextLease: number;
  readonly #leasePrefix: string;

  private constructor(targets: Map<string, TargetRecord>, nextLease: number, leasePrefix: string) {
    this.#targets = targets;
    this.#nextLease = nextLease;
    this.#leasePrefix = leasePrefix;
  }

  /** A new state, or one restored from `toJSON()`; unreadable input starts afresh. `leasePrefix` tells lease issuers apart. */
  static restore(saved: unknown, leasePrefix = ""): ClusterBreakerState {
    const state = saved as Partial<SerializedBreakerState> | null | undefined;
    if (state?.v === 1 && typeof state.targets === "object" && state.targets !== null) {
      return new ClusterBreakerState(new Map(Object.entries(state.targets)), Number(state.nextLease) || 0, leasePrefix);
    }
    return new ClusterBreakerState(new Map(), 0, leasePrefix);
  }

  toJSON(): SerializedBreakerState {
    return { v: 1, targets: Object.fromEntries(this.#targets), nextLease: this.#nextLease };
  }

  /** Keeps exactly `keys` (the cluster's current targets), adding new ones closed. */
  setTargets(keys: readonly string[], now: number): void {
    const wanted = new Set(keys);
    for (const key of this.#targets.keys()) if (!wanted.has(key)) this.#targets.delete(key);
    for (const key of keys) if (!this.#targets.has(key)) this.#targets.set(key, freshRecord(now));
  }

  /**
   * Adopts another view's states (an isolate falling back to itself starts from the object's last
   * word). Counts are kept: they are the isolate's own.
   */
  adopt(view: BreakerView, now: number): void {
    for (const [key, target] of Object.entries(view.targets)) {
      const record = this.#targets.get(key);
      if (!record || record.state === target.state) continue;
      record.state = target.state;
      record.retryAt = target.retryAt;
      record.probeSuccesses = 0;
      record.leases = [];
      if (target.state === "closed") resetStats(record, now);
    }
  }

  /** Adds a report's outcomes. Only closed targets are judged on regular traffic; probes move half-open ones. */
  ingest(report: OutcomeReport, settings: BreakerSettings, now: number, random: () => number): void {
    for (const [key, outcomes] of Object.entries(report.targets)) {
      const record = this.#targets.get(key);
      if (!record) continue;
      const requests = nonNegative(outcomes.requests);
      const failures = Math.min(requests, nonNegative(outcomes.failures));
      record.totals.requests += requests;
      record.totals.failures += failures;
      if (record.state === "closed") {
        decayCounts(record, settings, now);
        record.requests += requests;
        record.failures += failures;
        mergeHistogram(record.window, outcomes.latency ?? {});
      }
      for (const probe of outcomes.probes ?? []) this.#probeResult(record, probe, settings, now, random);
    }
  }

  #probeResult(record: TargetRecord, probe: ProbeResult, settings: BreakerSettings, now: number, random: () => number): void {
    const held = record.leases.findIndex((lease) => lease.id === probe.lease);
    // A result under a lease this state did not issue (expired, or issued before a restart) is
    // regular traffic: it was counted above and moves nothing.
    if (held === -1) return;
    record.leases.splice(held, 1);
    record.totals.probes++;
    if (record.state !== "half-open") return;
    if (!probe.ok) {
      this.#eject(record, settings, now, random);
      return;
    }
    record.probeSuccesses++;
    if (record.probeSuccesses >= settings.probeSuccesses) {
      record.state = "closed";
      record.retryAt = null;
      record.leases = [];
      record.multiplierAt = now;
      resetStats(record, now);
    }
  }

  #eject(record: TargetRecord, settings: BreakerSettings, now: number, random: () => number): void {
    record.multiplier++;
    record.multiplierAt = now;
    record.totals.ejections++;
    record.state = "open";
    record.retryAt =
      now + ejectionMs(record.multiplier, settings.baseEjectionMs, settings.maxEjectionMs, settings.ejectionJitter, random());
    record.probeSuccesses = 0;
    record.leases = [];
  }

  /** Moves the machine to `now`: open targets past their time turn half-open, healthy ones are scored, outliers ejected. */
  evaluate(settings: BreakerSettings, now: number, random: () => number): void {
    const records = [...this.#targets.values()];
    for (const record of records) {
      record.leases = record.leases.filter((lease) => lease.expiresAt > now);
      if (record.state === "open" && record.retryAt !== null && now >= record.retryAt) {
        record.state = "half-open";
        record.probeSuccesses = 0;
      }
      // The multiplier steps down once per base ejection time spent closed (Envoy's decay), so a
      // target that stays healthy earns back short ejections, and a flapping one does not.
      if (record.state === "closed" && record.multiplier > 0) {
        const steps = Math.floor((now - record.multiplierAt) / settings.baseEjectionMs);
        if (steps > 0) {
          record.multiplier = Math.max(0, record.multiplier - steps);
          record.multiplierAt += steps * settings.baseEjectionMs;
        }
      }
    }

    const p99s = records.map((record) => record.p99Ms);
    const windowMs = latencyWindowMs(settings);
    records.forEach((record, index) => {
      if (record.state !== "closed") return;
      const baseline = latencyBaseline(index, p99s, settings);
      const elapsed = now - record.windowStart;
      if (elapsed >= windowMs) {
        const sample = quantileMs(record.window, 0.99);
        if (sample !== null) {
          // Capped at the ratio cap before smoothing: a hung request says "slow", not "infinitely slow".
          const cap = baseline === null ? sample : Math.max(baseline, settings.latencyFloorMs) * settings.maxLatencyRatio;
          const capped = Math.min(sample, cap);
          const keep = decayFactor(elapsed, settings.halfLifeMs);
          record.p99Ms = record.p99Ms === null ? capped : record.p99Ms * keep + capped * (1 - keep);
        }
        record.window = {};
        record.windowStart = now;
      }
      decayCounts(record, settings, now);
      record.score =
        record.requests > 0
          ? targetScore(record.failures / record.requests, latencyRatio(record.p99Ms, baseline, settings), settings)
          : null;
    });

    const outliers = records
      .filter((record) => record.state === "closed" && record.score !== null && record.requests >= settings.minRequests)
      .filter((record) => (record.score as number) >= settings.threshold)
      .sort((a, b) => (b.score as number) - (a.score as number));
    let ejected = records.filter((record) => record.state !== "closed").length;
    const allowed = maxEjected(records.length, settings.maxEjectionPercent);
    for (const record of outliers) {
      if (ejected >= allowed) break;
      this.#eject(record, settings, now, random);
      ejected++;
    }
  }

  /** Grants probe leases on half-open targets the reporter wants, within the cluster-wide bound. */
  grant(wants: readonly string[], settings: BreakerSettings, now: number): Record<string, string[]> {
    const grants: Record<string, string[]> = {};
    for (const key of new Set(wants)) {
      const record = this.#targets.get(key);
      if (record?.state !== "half-open" || record.leases.length >= settings.probes) continue;
      const id = `${this.#leasePrefix}${++this.#nextLease}`;
      record.leases.push({ id, expiresAt: now + PROBE_LEASE_MS });
      grants[key] = [id];
    }
    return grants;
  }

  view(now: number, grants: Record<string, string[]> = {}): BreakerView {
    const targets: Record<string, TargetView> = {};
    for (const [key, record] of this.#targets) targets[key] = { state: record.state, retryAt: record.retryAt };
    return { at: now, targets, grants };
  }

  status(): Record<string, TargetStatus> {
    const out: Record<string, TargetStatus> = {};
    for (const [key, record] of this.#targets) {
      out[key] = {
        state: record.state,
        retryAt: record.retryAt,
        score: record.score,
        failureRate: record.requests > 0 ? record.failures / record.requests : null,
        p99Ms: record.p99Ms,
        recentRequests: record.requests,
        ejectionMultiplier: record.multiplier,
        probesInFlight: record.leases.length,
        totals: { ...record.totals },
      };
    }
    return out;
  }
}

function nonNegative(value: unknown): number {
  return typeof value === "number" && value > 0 && Number.isFinite(value) ? value : 0;
}

function decayCounts(record: TargetRecord, settings: BreakerSettings, now: number): void {
  const keep = decayFactor(now - record.countsAt, settings.halfLifeMs);
  record.requests *= keep;
  record.failures *= keep;
  record.countsAt = Math.max(record.countsAt, now);
}

/** A target back in rotation starts with a clean slate: its ejection-era numbers would re-trip it. */
function resetStats(record: TargetRecord, now: number): void {
  record.requests = 0;
  record.failures = 0;
  record.countsAt = now;
  record.window = {};
  record.windowStart = now;
  record.p99Ms = null;
  record.score = null;
}
