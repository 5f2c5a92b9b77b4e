/**
 * Per-isolate load balancing over a cluster's targets. Pure state machines: the proxy stage tells
 * them when an attempt starts and ends; they never do I/O.
 */

/**
 * Picks a target index among those `skip` lets through (targets already tried, ejected or full are
 * skipped); -1 when it lets none through.
 */
export interface Balancer {
  pick(skip?: (target: number) => boolean): number;
  /** An attempt on `target` started (least-in-flight counts these). */
  started(target: number): void;
  /** An attempt on `target` finished, whatever the outcome. */
  finished(target: number): void;
}

/**
 * Smooth weighted round robin (as nginx does it): each pick adds every weight to its running score
 * and takes the highest, then lowers it by the total. Spreads a 5:1:1 split as a a b a c a a, not
 * a a a a a b c, so no target sees bursts.
 */
export class WeightedRoundRobin implements Balancer {
  readonly #weights: readonly number[];
  readonly #current: number[];

  constructor(weights: readonly number[]) {
    this.#weights = weights;
    this.#current = weights.map(() => 0);
  }

  pick(skip?: (target: number) => boolean): number {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.#weights.length; i++) {
      if (skip?.(i)) continue;
      const weight = this.#weights[i] as number;
      const score = (this.#current[i] as number) + weight;
      this.#current[i] = score;
      total += weight;
      if (best === -1 || score > (this.#current[best] as number)) best = i;
    }
    if (best === -1) return -1;
    this.#current[best] = (this.#current[best] as number) - total;
    return best;
  }

  started(): void {}
  finished(): void {}
}

/**
 * Least in-flight, weighted: picks the target with the fewest attempts in flight per unit of
 * weight. Ties rotate so an idle cluster still spreads its load.
 */
export class LeastInFlight implements Balancer {
  readonly #weights: readonly number[];
  readonly #inFlight: number[];
  #cursor = 0;

  constructor(weights: readonly number[]) {
    this.#weights = weights;
    this.#inFlight = weights.map(() => 0);
  }

  pick(skip?: (target: number) => boolean): number {
    const n = this.#weights.length;
    let best = -1;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let k = 0; k < n; k++) {
      const i = (this.#cursor + k) % n;
      if (skip?.(i)) continue;
      const load = (this.#inFlight[i] as number) / (this.#weights[i] as number);
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    this.#cursor = (this.#cursor + 1) % n;
    return best;
  }

  started(target: number): void {
    this.#inFlight[target] = (this.#inFlight[target] as number) + 1;
  }

  finished(target: number): void {
    this.#inFlight[target] = Math.max(0, (this.#inFlight[target] as number) - 1);
  }

  /** Attempts in flight per target, for observability and tests. */
  inFlight(): readonly number[] {
    return this.#inFlight;
  }
}
