/**
 * Local-first limiting: each isolate takes a small lease of tokens from the backend and spends it
 * from memory, topping it up in the background before it runs out, so a steady stream of requests
 * makes no limiter call at all.
 *
 * Accuracy, per key and window (see docs/rate-limiting.md):
 * - The backend never grants more tokens than the policy allows, and a request is admitted only by
 *   spending a granted token. Admissions exceed the limit only by tokens granted in one window and
 *   spent in the next (each isolate holds at most `leaseSize`): at most `leaseSize × isolates`.
 * - Tokens an isolate holds when the window ends, or when it goes idle, are never spent: it can
 *   under-admit by up to `leaseSize × isolates`.
 * - As a key nears its limit, leases shrink (half of what the backend last said was left), so
 *   the last tokens go to whoever needs them, at the cost of more frequent calls.
 *
 * Pure apart from the `TakeTokens` call it is given: the clock and background work are injected.
 */
import { ExpiringLru } from "../expiring-lru.ts";
import { withTimeout } from "../timeout.ts";
import { type Decision, failureOf, type Grant, type LimiterFailure } from "./decision.ts";

/** Asks the backend for up to `ask` tokens (a partial grant is fine); throws LimiterError on failure. */
export type TakeTokens = (key: string, ask: number) => Promise<Grant>;

export interface LeasePoolOptions {
  leaseSize: number;
  /** A renewal starts when the lease has this many tokens or fewer. */
  lowWater: number;
  /** Keys with a lease held per isolate; the least recently used is dropped (its tokens unspent). */
  maxKeys: number;
  /** After a failed renewal, requests that find the lease empty get the failure mode without a call for this long. */
  failureBackoffMs: number;
}

interface Lease {
  key: string;
  tokens: number;
  /** Tokens are spent only before this instant: the backend's reset for the grant. */
  expiresAt: number;
  /** The backend's remaining count after the last grant; null before the first. */
  backendRemaining: number | null;
  resetAt: number;
  /** Refused by the backend: answer "denied" from memory until then. */
  blockedUntil: number;
  retryAt: number;
  failedUntil: number;
  failure: LimiterFailure | null;
  renewing: Promise<void> | null;
}

/** Rounds of "wait for a renewal, find it spent by others, renew again" before a request gives up. */
const MAX_WAIT_ROUNDS = 3;

/** The lease size a policy gets unless it sets one: 5% of the limit, between 1 and 1000 tokens. */
export function defaultLeaseSize(limit: number): number {
  return Math.max(1, Math.min(1000, Math.floor(limit / 20)));
}

export class LeasePool {
  readonly #leases: ExpiringLru<string, Lease>;
  readonly #options: LeasePoolOptions;
  readonly #takeTokens: TakeTokens;
  readonly #now: () => number;

  constructor(options: LeasePoolOptions, takeTokens: TakeTokens, now: () => number = Date.now) {
    this.#options = options;
    this.#leases = new ExpiringLru(options.maxKeys);
    this.#takeTokens = takeTokens;
    this.#now = now;
  }

  /**
   * Spends one token for `key`. Synchronous while the lease has tokens (the steady state); awaits
   * a renewal only when the lease is empty. `background` keeps a renewal alive past the request.
   */
  take(key: string, background: (work: Promise<unknown>) => void, waitBudgetMs: number): Decision | Promise<Decision> {
    const now = this.#now();
    let lease = this.#leases.get(key, now);
    if (lease === undefined) {
      lease = {
        key,
        tokens: 0,
        expiresAt: 0,
        backendRemaining: null,
        resetAt: 0,
        blockedUntil: 0,
        retryAt: 0,
        failedUntil: 0,
        failure: null,
        renewing: null,
      };
      // No expiry of its own (a lease's tokens carry theirs); the LRU bound forgets idle keys.
      this.#leases.set(key, lease, Number.POSITIVE_INFINITY);
    }
    const spent = this.#spend(lease, now, background);
    if (spent !== undefined) return spent;
    return this.#waitAndSpend(lease, background, now + waitBudgetMs);
  }

  /** A decision from memory, or undefined when the lease is empty and not blocked. */
  #spend(lease: Lease, now: number, background: (work: Promise<unknown>) => void): Decision | undefined {
    if (lease.tokens > 0 && now < lease.expiresAt) {
      lease.tokens--;
      if (lease.tokens <= this.#options.lowWater && lease.renewing === null && now >= lease.failedUntil) {
        background(this.#renew(lease, now));
      }
      return { kind: "allowed", remaining: (lease.backendRemaining ?? 0) + lease.tokens, resetAt: lease.resetAt };
    }
    if (now < lease.blockedUntil) return { kind: "denied", resetAt: lease.resetAt, retryAt: lease.retryAt };
    if (now < lease.failedUntil && lease.failure !== null) return { kind: "failed", failure: lease.failure };
    return undefined;
  }

  async #waitAndSpend(lease: Lease, background: (work: Promise<unknown>) => void, deadline: number): Promise<Decision> {
    for (let round = 0; round < MAX_WAIT_ROUNDS; round++) {
      let renewing = lease.renewing;
      if (renewing === null) {
        renewing = this.#renew(lease, this.#now());
        background(renewing);
      }
      const finished = await raceDeadline(renewing, deadline - this.#now());
      if (!finished) return { kind: "failed", failure: "timeout" };
      const decision = this.#spend(lease, this.#now(), background);
      if (decision !== undefined) return decision;
    }
    // Others spent every renewal this request waited for: the key is at its limit for now.
    return { kind: "denied", resetAt: lease.resetAt, retryAt: this.#now() + 1000 };
  }

  #renew(lease: Lease, now: number): Promise<void> {
    const { leaseSize } = this.#options;
    const held = now < lease.expiresAt ? lease.tokens : 0;
    let ask = leaseSize - held;
    if (lease.backendRemaining !== null) ask = Math.min(ask, Math.floor(lease.backendRemaining / 2));
    ask = Math.max(1, ask);
    const renewing = this.#apply(lease, ask).finally(() => {
      lease.renewing = null;
    });
    lease.renewing = renewing;
    return renewing;
  }

  async #apply(lease: Lease, ask: number): Promise<void> {
    let grant: Grant;
    try {
      grant = await this.#takeTokens(lease.key, ask);
    } catch (error) {
      lease.failure = failureOf(error);
      lease.failedUntil = this.#now() + this.#options.failureBackoffMs;
      return;
    }
    const now = this.#now();
    lease.failure = null;
    lease.failedUntil = 0;
    // Tokens of an expired grant are gone: spending them would carry a window's quota into the next.
    if (now >= lease.expiresAt) lease.tokens = 0;
    lease.tokens += grant.granted;
    lease.expiresAt = grant.resetAt;
    lease.backendRemaining = grant.remaining;
    lease.resetAt = grant.resetAt;
    lease.retryAt = grant.retryAt;
    lease.blockedUntil = grant.granted === 0 && lease.tokens === 0 ? grant.retryAt : 0;
  }
}

/** Resolves true when `work` settles within `ms`, false otherwise. */
async function raceDeadline(work: Promise<void>, ms: number): Promise<boolean> {
  if (ms <= 0) return false;
  return withTimeout(
    work.then(() => true),
    ms,
    () => new Error("deadline"),
  ).catch(() => false);
}
