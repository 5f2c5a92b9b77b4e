/**
 * One cluster's health as this isolate sees it: which targets may take traffic (the breaker view),
 * the probe leases it holds, its in-flight counts, and the outcomes it has yet to report.
 *
 * The hot path only reads and bumps numbers here. Outcomes go to the cluster's ClusterBreaker
 * object in batches, in the background, and its answer brings the next view. When the object
 * cannot be reached, the isolate carries on from the object's last view, judged further by its own
 * copy of the same state machine fed with its own outcomes.
 */

import type { BreakerReport, ClusterBreaker } from "../../durable-objects/cluster-breaker.ts";
import { GatewayError } from "../../errors.ts";
import type { CompiledBreaker } from "../../lib/breaker/config.ts";
import { LATENCY_BUCKETS, latencyBucket, sparseOf } from "../../lib/breaker/latency.ts";
import { type BreakerView, ClusterBreakerState, type OutcomeReport, type ProbeResult } from "../../lib/breaker/state.ts";
import { transitionKey } from "../../lib/breaker/transitions.ts";
import type { CompiledCluster } from "../../lib/cluster/config.ts";
import { log } from "../../lib/log.ts";
import { count, metricKey } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const STATE_CODES = { closed: CLOSED, open: OPEN, "half-open": HALF_OPEN } as const;
const STATE_NAMES = ["closed", "open", "half-open"] as const;

/** A probe result or a wish for a lease is worth a report this soon, not a full interval later. */
const PROMPT_REPORT_MS = 50;

export type AttemptOutcome = "success" | "failure";

/** Why no target can take a request, and when to try again. */
export interface Unavailable {
  reason: "down" | "overloaded";
  retryAfterSec: number;
}

/** The refusal for an unavailable cluster: 503 with Retry-After, and no upstream call. */
export function unavailableError(unavailable: Unavailable): GatewayError {
  const headers = { "retry-after": String(unavailable.retryAfterSec) };
  return unavailable.reason === "down"
    ? new GatewayError("no-healthy-upstream", "Every upstream target is temporarily out of rotation.", headers)
    : new GatewayError("upstream-overloaded", "Too many requests are in flight to this upstream.", headers);
}

export type HealthMode = "object" | "degraded" | "local";

class TimeoutError extends Error {}

/**
 * One target's health in this isolate, found by its key (the target URL). Every config version
 * that lists the key shares this one object, so a request that began on a target ends on it, and
 * counts it for the right target, whatever was published in between.
 */
class TargetHealth {
  readonly key: string;
  state = CLOSED;
  retryAt = 0;
  /** Probe leases held, while half-open. */
  leases: string[] = [];
  /** Asks the object for a probe lease: open past its time, or half-open without one. */
  wants = false;
  inFlight = 0;
  /** Listed by the installed config version; false once a publish removed it. */
  member = true;

  // Outcomes not yet reported.
  requests = 0;
  failures = 0;
  readonly latency = new Float64Array(LATENCY_BUCKETS);
  probes: ProbeResult[] = [];

  constructor(key: string) {
    this.key = key;
  }

  /** Closed, or half-open with a lease in hand. */
  usable(): boolean {
    return this.state === CLOSED || (this.state === HALF_OPEN && this.leases.length > 0);
  }

  /** Back in rotation with no history: added by a publish, or under a cluster without a breaker. */
  close(): void {
    this.state = CLOSED;
    this.retryAt = 0;
    this.leases.length = 0;
    this.wants = false;
  }

  /** Forgets what has not been reported yet; returns how many outcomes and probe results that was. */
  dropOutcomes(): [requests: number, probes: number] {
    const dropped: [number, number] = [this.requests, this.probes.length];
    this.requests = 0;
    this.failures = 0;
    this.latency.fill(0);
    this.probes = [];
    return dropped;
  }
}

/**
 * The isolate's health of one cluster, by name: its targets by key, the cluster's in-flight count,
 * and the reports to the cluster's object. Config versions come to it through `install`, once each;
 * requests reach it through their version's `ClusterHealth`.
 */
export class ClusterTracker {
  readonly name: string;
  #settings: CompiledBreaker | null = null;

  /** The installed version's targets, in its order (the order of reports and of the admin view). */
  #members: TargetHealth[] = [];
  #keys: readonly string[] = [];
  #byKey = new Map<string, TargetHealth>();
  /** Targets a publish removed that still carry requests of an older version; dropped at their last `end`. */
  readonly #retiring = new Map<string, TargetHealth>();
  /** Members that can take a request now: closed, or half-open with a lease in hand. */
  #usable = 0;
  #clusterInFlight = 0;

  // Outcomes not yet reported, over all members.
  #pending = 0;
  #pendingProbes = 0;

  /** The isolate's own judge, used while the object is unreachable (or not bound). */
  #local = ClusterBreakerState.restore(undefined, "local:");
  #view: BreakerView | null = null;
  #mode: HealthMode = "object";
  #reporting = false;
  #lastReportAt = Number.NEGATIVE_INFINITY;
  #lastAnswerAt: number | null = null;

  readonly #metrics: Record<"reportOk" | "reportFailed" | "down" | "overloaded", string>;

  constructor(name: string) {
    this.name = name;
    this.#metrics = {
      reportOk: metricKey("breaker_reports_total", { cluster: name, outcome: "ok" }),
      reportFailed: metricKey("breaker_reports_total", { cluster: name, outcome: "failed" }),
      down: metricKey("breaker_refusals_total", { cluster: name, reason: "down" }),
      overloaded: metricKey("breaker_refusals_total", { cluster: name, reason: "overloaded" }),
    };
  }

  /**
   * Hands the cluster's state over to a config version, matching targets by key: one that stays
   * keeps its state, leases, in-flight count and unreported outcomes; one that is added starts
   * closed; one that is removed is forgotten (with its unreported outcomes: the object keeps only
   * members) once its last request of an older version has ended. Returns the version's targets,
   * in its order.
   */
  install(cluster: CompiledCluster): readonly TargetHealth[] {
    // Without a breaker every target is closed: a publish that removes it must not leave ejections behind.
    const keepStates = cluster.breaker !== null;
    const previous = this.#byKey;
    const byKey = new Map<string, TargetHealth>();
    const targets = cluster.targets.map((target) => {
      let health = byKey.get(target.key) ?? previous.get(target.key);
      if (health === undefined) {
        // Removed earlier and listed again while older requests are still on it: one object per
        // key, so its in-flight count stays whole; its state starts afresh, as the object's does.
        health = this.#retiring.get(target.key);
        if (health === undefined) health = new TargetHealth(target.key);
        else {
          this.#retiring.delete(target.key);
          health.member = true;
          health.close();
        }
      } else if (!keepStates) {
        health.close();
      }
      byKey.set(target.key, health);
      return health;
    });
    for (const [key, health] of previous) {
      if (byKey.has(key)) continue;
      health.member = false;
      health.close();
      const [requests, probes] = health.dropOutcomes();
      this.#pending -= requests;
      this.#pendingProbes -= probes;
      if (health.inFlight > 0) this.#retiring.set(key, health);
    }
    this.#byKey = byKey;
    this.#members = [...byKey.values()];
    this.#keys = [...byKey.keys()];
    this.#settings = cluster.breaker;
    this.#local.setTargets(this.#keys, Date.now());
    this.#countUsable();
    return targets;
  }

  #countUsable(): void {
    let usable = 0;
    for (const target of this.#members) if (target.usable()) usable++;
    this.#usable = usable;
  }

  /** Null when some target can take the request; otherwise why not, asking for probe leases on the way. */
  check(maxInFlight: number | null, now: number): Unavailable | null {
    if (this.#usable === 0) return this.#down(now);
    if (maxInFlight === null || this.#clusterInFlight < maxInFlight) return null;
    count(this.#metrics.overloaded);
    return { reason: "overloaded", retryAfterSec: 1 };
  }

  // Refusals and rare cases are kept out of the methods every request runs, so those stay small
  // enough for the compiler to inline into the stages.
  #down(now: number): Unavailable {
    count(this.#metrics.down);
    let soonest = Number.POSITIVE_INFINITY;
    for (const target of this.#members) {
      if (target.state === OPEN && target.retryAt > now) soonest = Math.min(soonest, target.retryAt);
      else target.wants = true;
    }
    const wait = soonest === Number.POSITIVE_INFINITY ? 1 : Math.ceil((soonest - now) / 1000);
    return { reason: "down", retryAfterSec: Math.max(1, wait) };
  }

  /** Why nothing among `targets` was routable for an attempt: full targets are overload, the rest is an outage. */
  refusal(targets: readonly TargetHealth[], maxInFlight: number | null, now: number): Unavailable {
    for (const target of targets) {
      if (target.usable()) {
        count(this.#metrics.overloaded);
        return { reason: "overloaded", retryAfterSec: 1 };
      }
    }
    return this.check(maxInFlight, now) ?? { reason: "down", retryAfterSec: 1 };
  }

  enter(): void {
    this.#clusterInFlight++;
  }

  leave(): void {
    this.#clusterInFlight--;
  }

  begin(target: TargetHealth): string | null {
    target.inFlight++;
    if (!target.member) this.#retiredBegin(target);
    return target.state === HALF_OPEN ? this.#spendLease(target) : null;
  }

  #spendLease(target: TargetHealth): string | null {
    const lease = target.leases.pop() ?? null;
    if (target.leases.length === 0) this.#countUsable();
    return lease;
  }

  /** A removed target an older version still routes to: tracked until its last request ends. */
  #retiredBegin(target: TargetHealth): void {
    if (target.inFlight === 1 && !this.#byKey.has(target.key)) this.#retiring.set(target.key, target);
  }

  end(target: TargetHealth, lease: string | null, outcome: AttemptOutcome | null, latencyMs: number): void {
    if (target.inFlight > 0) target.inFlight--;
    if (!target.member) {
      this.#retiredEnd(target);
      return;
    }
    if (outcome === null || this.#settings === null) return;
    target.requests++;
    if (outcome === "failure") target.failures++;
    const bucket = latencyBucket(latencyMs);
    target.latency[bucket] = (target.latency[bucket] as number) + 1;
    this.#pending++;
    if (lease !== null) {
      target.probes.push({ lease, ok: outcome === "success" });
      this.#pendingProbes++;
    }
  }

  /**
   * Not a member any more: the object would not take its outcomes, and with its last request gone
   * nothing refers to it but the older version's snapshot.
   */
  #retiredEnd(target: TargetHealth): void {
    if (target.inFlight === 0 && this.#retiring.get(target.key) === target) this.#retiring.delete(target.key);
  }

  /** Reports and refreshes in the background when due: once an interval while traffic flows, sooner for probes. */
  maybeReport(
    now: number,
    namespace: DurableObjectNamespace<ClusterBreaker> | undefined,
    background: (work: Promise<unknown>) => void,
  ): void {
    const settings = this.#settings;
    if (settings === null || this.#reporting) return;
    const since = now - this.#lastReportAt;
    const due =
      since >= settings.reportIntervalMs ||
      this.#pending >= settings.reportEveryRequests ||
      ((this.#pendingProbes > 0 || this.#wantsAny()) && since >= PROMPT_REPORT_MS);
    if (!due) return;
    this.#reporting = true;
    this.#lastReportAt = now;
    background(this.#report(settings, namespace, now).finally(() => (this.#reporting = false)));
  }

  #wantsAny(): boolean {
    for (const target of this.#members) if (target.wants) return true;
    return false;
  }

  #takeReport(): OutcomeReport {
    const targets: OutcomeReport["targets"] = {};
    const wants: string[] = [];
    for (const target of this.#members) {
      if (target.requests > 0 || target.probes.length > 0) {
        targets[target.key] = {
          requests: target.requests,
          failures: target.failures,
          latency: sparseOf(target.latency),
          probes: target.probes,
        };
        target.dropOutcomes();
      }
      if (target.wants && target.leases.length === 0) wants.push(target.key);
      target.wants = false;
    }
    this.#pending = 0;
    this.#pendingProbes = 0;
    return { targets, wants };
  }

  async #report(settings: CompiledBreaker, namespace: DurableObjectNamespace<ClusterBreaker> | undefined, now: number): Promise<void> {
    const report = this.#takeReport();
    // The local judge hears everything, so it is warm the moment the object goes quiet.
    this.#local.ingest(report, settings, now, Math.random);
    if (namespace === undefined) {
      this.#judgeLocally("local", report.wants, settings, now);
      return;
    }
    try {
      const stub = namespace.get(namespace.idFromName(this.name));
      const message: BreakerReport = { ...report, settings, members: [...this.#keys], cluster: this.name };
      const view = await withTimeout(stub.report(message), settings.objectTimeoutMs, () => new TimeoutError());
      count(this.#metrics.reportOk);
      if (this.#mode !== "object") {
        log({ level: "warn", event: "breaker.object_reachable", cluster: this.name });
        this.#mode = "object";
        for (const target of this.#members) target.leases.length = 0;
      }
      this.#lastAnswerAt = Date.now();
      this.#apply(view);
    } catch (error) {
      count(this.#metrics.reportFailed);
      if (this.#mode === "object") {
        log({
          level: "warn",
          event: "breaker.object_unreachable",
          cluster: this.name,
          reason: error instanceof TimeoutError ? `no answer within ${settings.objectTimeoutMs} ms` : "call failed",
        });
      }
      this.#judgeLocally("degraded", report.wants, settings, Date.now());
    }
  }

  /** Routing on the isolate's own judgement, starting from the object's last view. */
  #judgeLocally(mode: "degraded" | "local", wants: string[], settings: CompiledBreaker, now: number): void {
    if (this.#mode !== mode) {
      if (mode === "local") log({ level: "warn", event: "breaker.unbound", cluster: this.name });
      if (this.#view !== null) this.#local.adopt(this.#view, now);
      for (const target of this.#members) target.leases.length = 0;
      this.#mode = mode;
    }
    this.#local.evaluate(settings, now, Math.random);
    const grants = this.#local.grant(wants, settings, now);
    this.#applyStates(this.#local.view(now, grants));
  }

  #apply(view: BreakerView): void {
    this.#view = view;
    this.#applyStates(view);
  }

  #applyStates(view: BreakerView): void {
    for (const target of this.#members) {
      const seen = view.targets[target.key];
      const state = seen === undefined ? CLOSED : STATE_CODES[seen.state];
      // Judging alone, this isolate decides transitions itself; otherwise the object counted them.
      if (state !== target.state && this.#mode !== "object") count(transitionKey(this.name, STATE_NAMES[state as 0 | 1 | 2]));
      target.state = state;
      target.retryAt = seen?.retryAt ?? 0;
      if (state !== HALF_OPEN) target.leases.length = 0;
      const granted = view.grants[target.key];
      if (state === HALF_OPEN && granted !== undefined) target.leases.push(...granted);
    }
    this.#countUsable();
  }

  /** This isolate's side, for the admin API: the members, and removed targets still carrying requests. */
  snapshot(now: number) {
    const describe = (target: TargetHealth) => ({
      state: STATE_NAMES[target.state as 0 | 1 | 2],
      retryAt: target.state === OPEN ? new Date(target.retryAt).toISOString() : null,
      inFlight: target.inFlight,
      leasesHeld: target.leases.length,
    });
    return {
      mode: this.#mode,
      viewAgeMs: this.#lastAnswerAt === null ? null : now - this.#lastAnswerAt,
      inFlight: this.#clusterInFlight,
      targets: Object.fromEntries(this.#members.map((target) => [target.key, describe(target)])),
      ...(this.#retiring.size > 0 && {
        retiring: Object.fromEntries([...this.#retiring.values()].map((target) => [target.key, describe(target)])),
      }),
    };
  }
}

/**
 * One config version's view of its cluster's health, what the breaker and proxy stages use. Its
 * targets are resolved to their `TargetHealth` once, when the version is installed, so a target
 * index here is a position in this version's own (immutable) target list and always names the same
 * target: a request addresses its targets the same way before and after a publish.
 */
export class ClusterHealth {
  readonly name: string;
  readonly #tracker: ClusterTracker;
  readonly #cluster: CompiledCluster;
  /** By position in `cluster.targets`. */
  readonly #targets: readonly TargetHealth[];

  /** Installs `cluster` into `tracker` (a tracker of its own when none is given: tests, other isolates). */
  constructor(cluster: CompiledCluster, tracker: ClusterTracker = new ClusterTracker(cluster.name)) {
    this.name = cluster.name;
    this.#tracker = tracker;
    this.#cluster = cluster;
    this.#targets = tracker.install(cluster);
  }

  /** Null when some target can take the request; otherwise why not, asking for probe leases on the way. */
  check(now: number): Unavailable | null {
    return this.#tracker.check(this.#cluster.maxInFlight, now);
  }

  /** A request to this cluster is on its way upstream (counted against maxInFlight until `leave`). */
  enter(): void {
    this.#tracker.enter();
  }

  leave(): void {
    this.#tracker.leave();
  }

  /** Whether target `i` (of this version) may take an attempt now. Open targets past their time ask for a probe lease. */
  routable(i: number, now: number): boolean {
    const target = this.#targets[i] as TargetHealth;
    const cap = this.#cluster.maxInFlightPerTarget;
    switch (target.state) {
      case CLOSED:
        return cap === null || target.inFlight < cap;
      case HALF_OPEN:
        if (target.leases.length > 0) return cap === null || target.inFlight < cap;
        target.wants = true;
        return false;
      default:
        if (target.retryAt <= now) target.wants = true;
        return false;
    }
  }

  /** Why nothing was routable for an attempt: full targets are overload, the rest is an outage. */
  refusal(now: number): Unavailable {
    return this.#tracker.refusal(this.#targets, this.#cluster.maxInFlight, now);
  }

  /** An attempt on target `i` (of this version) starts; returns the probe lease it spends, if the target is half-open. */
  begin(i: number): string | null {
    return this.#tracker.begin(this.#targets[i] as TargetHealth);
  }

  /**
   * The attempt begun on target `i` ended: the same target, whatever was published since. Pass null
   * for an attempt whose client went away: it says nothing about the target.
   */
  end(i: number, lease: string | null, outcome: AttemptOutcome | null, latencyMs: number): void {
    this.#tracker.end(this.#targets[i] as TargetHealth, lease, outcome, latencyMs);
  }

  /** Reports and refreshes in the background when due: once an interval while traffic flows, sooner for probes. */
  maybeReport(
    now: number,
    namespace: DurableObjectNamespace<ClusterBreaker> | undefined,
    background: (work: Promise<unknown>) => void,
  ): void {
    this.#tracker.maybeReport(now, namespace, background);
  }

  /** This isolate's side, for the admin API. */
  snapshot(now: number) {
    return this.#tracker.snapshot(now);
  }
}

/** Whether a cluster needs health at all: a breaker or an in-flight cap. */
export function needsHealth(cluster: CompiledCluster): boolean {
  return cluster.breaker !== null || cluster.maxInFlight !== null || cluster.maxInFlightPerTarget !== null;
}

/**
 * The isolate's cluster health, owned by the isolate runtime: one tracker per cluster name (as the
 * cluster's object is named), handed over to each config version once, as it is installed. Upstream
 * health is a fact about the upstreams, not about one config version, so a publish never forgets
 * which targets are ejected; a cluster the new version no longer has is forgotten (requests still
 * on an older version end on the tracker they began on).
 */
export class ClusterHealthRegistry {
  #trackers = new Map<string, ClusterTracker>();
  /** Each version's view, kept beside its compiled cluster, weakly: it goes with the version's last request. */
  readonly #installed = new WeakMap<CompiledCluster, ClusterHealth>();

  /**
   * Hands the health over to a config version's clusters: call once, as the version is installed,
   * before it serves a request. A cluster that lost its breaker and caps is installed too, so its
   * targets return to rotation should they come back.
   */
  install(clusters: Iterable<CompiledCluster>): void {
    const previous = this.#trackers;
    const next = new Map<string, ClusterTracker>();
    for (const cluster of clusters) {
      const tracker = previous.get(cluster.name);
      if (tracker !== undefined) next.set(cluster.name, tracker);
      if (!this.#installed.has(cluster) && (needsHealth(cluster) || tracker !== undefined)) this.#installIn(next, cluster);
    }
    this.#trackers = next;
  }

  #installIn(trackers: Map<string, ClusterTracker>, cluster: CompiledCluster): ClusterHealth {
    let tracker = trackers.get(cluster.name);
    if (tracker === undefined) {
      tracker = new ClusterTracker(cluster.name);
      trackers.set(cluster.name, tracker);
    }
    const health = new ClusterHealth(cluster, tracker);
    this.#installed.set(cluster, health);
    return health;
  }

  /**
   * The health of `cluster` as its own config version sees it; null for a cluster with neither
   * breaker nor in-flight caps. A cluster of a version that was never installed (tests, tools) is
   * installed on its own, leaving the other clusters as they are.
   */
  healthFor(cluster: CompiledCluster): ClusterHealth | null {
    if (!needsHealth(cluster)) return null;
    return this.#installed.get(cluster) ?? this.#installIn(this.#trackers, cluster);
  }

  /** The tracker for a cluster name, if the installed version has one (admin reads). */
  tracker(name: string): ClusterTracker | undefined {
    return this.#trackers.get(name);
  }
}
