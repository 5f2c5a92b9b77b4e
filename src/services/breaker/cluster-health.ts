/**
 * One cluster's health as this isolate sees it: which targets may take traffic (the breaker view),
 * the probe leases it holds, its in-flight counts, and the outcomes it has yet to report.
 *
 * The hot path only reads and bumps numbers here. Outcomes go to the cluster's ClusterBreaker
 * object in batches, in the background, and its answer brings the next view. When the object
 * cannot be reached, the isolate carries on from the object's last view, judged further by its own
 * copy of the same state machine fed with its own outcomes.
 */
import type { CompiledBreaker, CompiledCluster } from "../../config/compile.ts";
import type { BreakerReport, ClusterBreaker } from "../../durable-objects/cluster-breaker.ts";
import { GatewayError } from "../../errors.ts";
import { LATENCY_BUCKETS, latencyBucket, sparseOf } from "../../lib/breaker/latency.ts";
import { type BreakerView, ClusterBreakerState, type OutcomeReport, type ProbeResult } from "../../lib/breaker/state.ts";
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

export class ClusterHealth {
  readonly name: string;
  #cluster: CompiledCluster;
  #settings: CompiledBreaker | null;
  #keys: readonly string[] = [];

  // Per target, by index in the cluster's target list.
  #state = new Uint8Array(0);
  #retryAt = new Float64Array(0);
  #leases: string[][] = [];
  #wants = new Uint8Array(0);
  #inFlight = new Int32Array(0);
  /** Targets that can take a request now: closed, or half-open with a lease in hand. */
  #usable = 0;
  #clusterInFlight = 0;

  // Outcomes not yet reported.
  #requests = new Int32Array(0);
  #failures = new Int32Array(0);
  #latency: Float64Array[] = [];
  #probes: ProbeResult[][] = [];
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

  constructor(cluster: CompiledCluster) {
    this.name = cluster.name;
    this.#cluster = cluster;
    this.#settings = cluster.breaker;
    this.#metrics = {
      reportOk: metricKey("breaker_reports_total", { cluster: cluster.name, outcome: "ok" }),
      reportFailed: metricKey("breaker_reports_total", { cluster: cluster.name, outcome: "failed" }),
      down: metricKey("breaker_refusals_total", { cluster: cluster.name, reason: "down" }),
      overloaded: metricKey("breaker_refusals_total", { cluster: cluster.name, reason: "overloaded" }),
    };
    this.#resize(cluster);
  }

  /** Follows a config publish: targets are matched by key, so their states and leases carry over. */
  configure(cluster: CompiledCluster): void {
    if (cluster === this.#cluster) return;
    this.#cluster = cluster;
    this.#settings = cluster.breaker;
    this.#resize(cluster);
  }

  #resize(cluster: CompiledCluster): void {
    const keys = cluster.targets.map((target) => target.key);
    const previous = new Map(this.#keys.map((key, i) => [key, i]));
    const n = keys.length;
    const state = new Uint8Array(n);
    const retryAt = new Float64Array(n);
    const leases: string[][] = [];
    const inFlight = new Int32Array(n);
    // Without a breaker every target is closed: a publish that removes it must not leave ejections behind.
    const keep = cluster.breaker !== null;
    for (let i = 0; i < n; i++) {
      const before = keep ? previous.get(keys[i] as string) : undefined;
      leases.push(before === undefined ? [] : (this.#leases[before] as string[]));
      if (before === undefined) continue;
      state[i] = this.#state[before] as number;
      retryAt[i] = this.#retryAt[before] as number;
      inFlight[i] = this.#inFlight[before] as number;
    }
    this.#keys = keys;
    this.#state = state;
    this.#retryAt = retryAt;
    this.#leases = leases;
    this.#inFlight = inFlight;
    this.#wants = new Uint8Array(n);
    // Unreported outcomes of the old target list are dropped: at most one interval's worth.
    this.#requests = new Int32Array(n);
    this.#failures = new Int32Array(n);
    this.#latency = keys.map(() => new Float64Array(LATENCY_BUCKETS));
    this.#probes = keys.map(() => []);
    this.#pending = 0;
    this.#pendingProbes = 0;
    this.#local.setTargets(keys, Date.now());
    this.#countUsable();
  }

  #countUsable(): void {
    let usable = 0;
    for (let i = 0; i < this.#state.length; i++) {
      const state = this.#state[i];
      if (state === CLOSED || (state === HALF_OPEN && (this.#leases[i] as string[]).length > 0)) usable++;
    }
    this.#usable = usable;
  }

  /** Null when some target can take the request; otherwise why not, asking for probe leases on the way. */
  check(now: number): Unavailable | null {
    if (this.#usable > 0) {
      if (this.#cluster.maxInFlight !== null && this.#clusterInFlight >= this.#cluster.maxInFlight) {
        count(this.#metrics.overloaded);
        return { reason: "overloaded", retryAfterSec: 1 };
      }
      return null;
    }
    count(this.#metrics.down);
    let soonest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.#state.length; i++) {
      if (this.#state[i] === OPEN && (this.#retryAt[i] as number) > now) soonest = Math.min(soonest, this.#retryAt[i] as number);
      else this.#wants[i] = 1;
    }
    const wait = soonest === Number.POSITIVE_INFINITY ? 1 : Math.ceil((soonest - now) / 1000);
    return { reason: "down", retryAfterSec: Math.max(1, wait) };
  }

  /** A request to this cluster is on its way upstream (counted against maxInFlight until `leave`). */
  enter(): void {
    this.#clusterInFlight++;
  }

  leave(): void {
    this.#clusterInFlight--;
  }

  /** Whether target `i` may take an attempt now. Open targets past their time ask for a probe lease. */
  routable(i: number, now: number): boolean {
    const cap = this.#cluster.maxInFlightPerTarget;
    switch (this.#state[i]) {
      case CLOSED:
        return cap === null || (this.#inFlight[i] as number) < cap;
      case HALF_OPEN:
        if ((this.#leases[i] as string[]).length > 0) return cap === null || (this.#inFlight[i] as number) < cap;
        this.#wants[i] = 1;
        return false;
      default:
        if ((this.#retryAt[i] as number) <= now) this.#wants[i] = 1;
        return false;
    }
  }

  /** Why nothing was routable for an attempt: full targets are overload, the rest is an outage. */
  refusal(now: number): Unavailable {
    for (let i = 0; i < this.#state.length; i++) {
      const state = this.#state[i];
      if (state === CLOSED || (state === HALF_OPEN && (this.#leases[i] as string[]).length > 0)) {
        count(this.#metrics.overloaded);
        return { reason: "overloaded", retryAfterSec: 1 };
      }
    }
    return this.check(now) ?? { reason: "down", retryAfterSec: 1 };
  }

  /** An attempt on target `i` starts; returns the probe lease it spends, if the target is half-open. */
  begin(i: number): string | null {
    this.#inFlight[i] = (this.#inFlight[i] as number) + 1;
    if (this.#state[i] !== HALF_OPEN) return null;
    const lease = (this.#leases[i] as string[]).pop() ?? null;
    if ((this.#leases[i] as string[]).length === 0) this.#countUsable();
    return lease;
  }

  /** An attempt on target `i` ended. Pass null for an attempt whose client went away: it says nothing about the target. */
  end(i: number, lease: string | null, outcome: AttemptOutcome | null, latencyMs: number): void {
    this.#inFlight[i] = Math.max(0, (this.#inFlight[i] as number) - 1);
    if (outcome === null || this.#settings === null) return;
    this.#requests[i] = (this.#requests[i] as number) + 1;
    if (outcome === "failure") this.#failures[i] = (this.#failures[i] as number) + 1;
    const latency = this.#latency[i] as Float64Array;
    const bucket = latencyBucket(latencyMs);
    latency[bucket] = (latency[bucket] as number) + 1;
    this.#pending++;
    if (lease !== null) {
      (this.#probes[i] as ProbeResult[]).push({ lease, ok: outcome === "success" });
      this.#pendingProbes++;
    }
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
    for (let i = 0; i < this.#wants.length; i++) if (this.#wants[i] === 1) return true;
    return false;
  }

  #takeReport(): OutcomeReport {
    const targets: OutcomeReport["targets"] = {};
    const wants: string[] = [];
    this.#keys.forEach((key, i) => {
      const probes = this.#probes[i] as ProbeResult[];
      if ((this.#requests[i] as number) > 0 || probes.length > 0) {
        const latency = this.#latency[i] as Float64Array;
        targets[key] = { requests: this.#requests[i] as number, failures: this.#failures[i] as number, latency: sparseOf(latency), probes };
        latency.fill(0);
        this.#probes[i] = [];
      }
      if (this.#wants[i] === 1 && (this.#leases[i] as string[]).length === 0) wants.push(key);
    });
    this.#requests.fill(0);
    this.#failures.fill(0);
    this.#wants.fill(0);
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
      const message: BreakerReport = { ...report, settings, members: [...this.#keys] };
      const view = await withTimeout(stub.report(message), settings.objectTimeoutMs, () => new TimeoutError());
      count(this.#metrics.reportOk);
      if (this.#mode !== "object") {
        log({ level: "warn", event: "breaker.object_reachable", cluster: this.name });
        this.#mode = "object";
        for (const leases of this.#leases) leases.length = 0;
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
      for (const leases of this.#leases) leases.length = 0;
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
    this.#keys.forEach((key, i) => {
      const target = view.targets[key];
      const state = target === undefined ? CLOSED : STATE_CODES[target.state];
      this.#state[i] = state;
      this.#retryAt[i] = target?.retryAt ?? 0;
      if (state !== HALF_OPEN) (this.#leases[i] as string[]).length = 0;
      const granted = view.grants[key];
      if (state === HALF_OPEN && granted !== undefined) (this.#leases[i] as string[]).push(...granted);
    });
    this.#countUsable();
  }

  /** This isolate's side, for the admin API. */
  snapshot(now: number) {
    return {
      mode: this.#mode,
      viewAgeMs: this.#lastAnswerAt === null ? null : now - this.#lastAnswerAt,
      inFlight: this.#clusterInFlight,
      targets: Object.fromEntries(
        this.#keys.map((key, i) => [
          key,
          {
            state: STATE_NAMES[this.#state[i] as number],
            retryAt: this.#state[i] === OPEN ? new Date(this.#retryAt[i] as number).toISOString() : null,
            inFlight: this.#inFlight[i],
            leasesHeld: (this.#leases[i] as string[]).length,
          },
        ]),
      ),
    };
  }
}

// Module scope on purpose: upstream health is a fact about the upstreams, not about one request or
// one config version, so a publish must not forget which targets are ejected. Entries are keyed by
// cluster name, like the cluster's object.
const registry = new Map<string, ClusterHealth>();

/** The isolate's health tracker for `cluster`; null for a cluster with neither breaker nor in-flight caps. */
export function clusterHealthFor(cluster: CompiledCluster): ClusterHealth | null {
  if (cluster.breaker === null && cluster.maxInFlight === null && cluster.maxInFlightPerTarget === null) return null;
  let health = registry.get(cluster.name);
  if (health === undefined) {
    health = new ClusterHealth(cluster);
    registry.set(cluster.name, health);
  } else {
    health.configure(cluster);
  }
  return health;
}

/** The tracker for a cluster name, if this isolate has one (admin reads). */
export function existingClusterHealth(name: string): ClusterHealth | undefined {
  return registry.get(name);
}
