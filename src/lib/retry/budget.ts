/**
 * A retry budget (as Linkerd and Envoy bound retries): retries may add at most `ratio` of the
 * recent request volume, plus `minPerSecond` so low-traffic routes can still retry. Without it, a
 * struggling upstream gets its load multiplied by the retry count exactly when it can least bear it.
 */

const WINDOW_MS = 10_000;
const BUCKETS = 10;
const BUCKET_MS = WINDOW_MS / BUCKETS;

export interface RetryBudgetPolicy {
  ratio: number;
  minPerSecond: number;
}

/** Counts requests and retries over a sliding 10-second window of 1-second buckets. */
export class RetryBudget {
  readonly #policy: RetryBudgetPolicy;
  readonly #now: () => number;
  readonly #requests = new Array<number>(BUCKETS).fill(0);
  readonly #retries = new Array<number>(BUCKETS).fill(0);
  #bucketStart = 0;
  #bucket = 0;

  constructor(policy: RetryBudgetPolicy, now: () => number = Date.now) {
    this.#policy = policy;
    this.#now = now;
    this.#bucketStart = now();
  }

  #advance(): void {
    const now = this.#now();
    const elapsed = Math.floor((now - this.#bucketStart) / BUCKET_MS);
    if (elapsed <= 0) return;
    for (let k = 1; k <= Math.min(elapsed, BUCKETS); k++) {
      const i = (this.#bucket + k) % BUCKETS;
      this.#requests[i] = 0;
      this.#retries[i] = 0;
    }
    this.#bucket = (this.#bucket + elapsed) % BUCKETS;
    this.#bucketStart += elapsed * BUCKET_MS;
  }

  /** Records a first attempt. */
  recordRequest(): void {
    this.#advance();
    this.#requests[this.#bucket] = (this.#requests[this.#bucket] as number) + 1;
  }

  /** Takes one retry from the budget if it allows one; returns whether the retry may go ahead. */
  tryRetry(): boolean {
    this.#advance();
    const requests = this.#requests.reduce((a, b) => a + b, 0);
    const retries = this.#retries.reduce((a, b) => a + b, 0);
    const allowed = this.#policy.minPerSecond * (WINDOW_MS / 1000) + this.#policy.ratio * requests;
    if (retries + 1 > allowed) return false;
    this.#retries[this.#bucket] = (this.#retries[this.#bucket] as number) + 1;
    return true;
  }
}
