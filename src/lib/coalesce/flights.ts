/**
 * The table of upstream calls in flight that later identical requests may wait on. Pure: it hands
 * out roles and settles waiters; what a call is and what its outcome holds is the stage's business.
 */

export interface Flight<T> {
  /** Settles with the leader's outcome; never rejects. */
  readonly promise: Promise<T>;
  /** Callers waiting on this call, the leader not counted. */
  followers: number;
}

export type Joined<T> = { role: "leader"; flight: Flight<T> } | { role: "follower"; flight: Flight<T> } | { role: "alone" };

interface Entry<T> {
  flight: Flight<T>;
  settle: (outcome: T) => void;
}

export class FlightTable<T> {
  readonly #entries = new Map<string, Entry<T>>();
  /** Most followers one call takes; the next caller goes alone rather than queue without bound. */
  readonly maxFollowers: number;

  constructor(maxFollowers: number) {
    this.maxFollowers = maxFollowers;
  }

  /** Calls in flight. */
  get size(): number {
    return this.#entries.size;
  }

  /** The first caller for `key` leads (makes the call); later ones follow until it lands, up to the cap. */
  join(key: string): Joined<T> {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (entry.flight.followers >= this.maxFollowers) return { role: "alone" };
      entry.flight.followers++;
      return { role: "follower", flight: entry.flight };
    }
    let settle!: (outcome: T) => void;
    const promise = new Promise<T>((resolve) => {
      settle = resolve;
    });
    const flight: Flight<T> = { promise, followers: 0 };
    this.#entries.set(key, { flight, settle });
    return { role: "leader", flight };
  }

  /**
   * Ends the leader's call: later callers start a new one, and every follower gets `outcome`.
   * Returns how many followers were waiting.
   */
  land(key: string, flight: Flight<T>, outcome: T): number {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.flight !== flight) return flight.followers;
    this.#entries.delete(key);
    entry.settle(outcome);
    return flight.followers;
  }
}
