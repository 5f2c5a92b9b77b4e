/**
 * ClusterBreaker: the Durable Object that keeps one cluster's upstream health, shared by every
 * isolate. A thin RPC shell over the pure state machine: isolates send batched outcomes about once
 * a second and get the cluster's view back in the same answer, so routing never waits on it.
 * The state is written to durable storage on every report (synchronous SQLite-backed `kv`), so it
 * outlives eviction; no call can interleave between reading and writing it.
 */
import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env.ts";
import {
  type BreakerSettings,
  type BreakerView,
  ClusterBreakerState,
  type OutcomeReport,
  type TargetStatus,
} from "../lib/breaker/state.ts";
import { transitionKey } from "../lib/breaker/transitions.ts";
import { count } from "../lib/metrics.ts";
import { metricsReporter } from "../services/metrics/reporter.ts";

const STATE = "state";

export interface BreakerReport extends OutcomeReport {
  /** The reporter's settings for this cluster: the object holds no config of its own. */
  settings: BreakerSettings;
  /** The cluster's targets as the reporter's config has them. */
  members: string[];
  /** The cluster's name, for the transition counters (the object's own id does not carry it). */
  cluster?: string;
}

export class ClusterBreaker extends DurableObject<Bindings> {
  #state: ClusterBreakerState;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.#state = ClusterBreakerState.restore(ctx.storage.kv.get(STATE));
  }

  /** Takes a batch of outcomes and probe wishes; answers with the cluster's view and any leases granted. */
  report(report: BreakerReport): BreakerView {
    const now = Date.now();
    const state = this.#state;
    const before = state.view(now).targets;
    state.setTargets(report.members, now);
    state.ingest(report, report.settings, now, Math.random);
    state.evaluate(report.settings, now, Math.random);
    const grants = state.grant(report.wants, report.settings, now);
    this.ctx.storage.kv.put(STATE, state.toJSON());
    const view = state.view(now, grants);
    // Transitions are counted here, where they are decided, once for the fleet (not by every isolate that hears of them).
    for (const [key, target] of Object.entries(view.targets)) {
      const was = before[key]?.state;
      if (was !== undefined && was !== target.state) count(transitionKey(report.cluster ?? "-", target.state));
    }
    // This object's isolate ships its counters like any other (at most once per interval).
    metricsReporter.maybeReport(now, this.env.METRICS_AGGREGATOR, (work) => this.ctx.waitUntil(work));
    return view;
  }

  /** Per-target detail for the admin API. Moves the machine to now first, so an idle cluster reads true. */
  status(settings: BreakerSettings | null): Record<string, TargetStatus> {
    if (settings !== null) {
      this.#state.evaluate(settings, Date.now(), Math.random);
      this.ctx.storage.kv.put(STATE, this.#state.toJSON());
    }
    return this.#state.status();
  }
}
