import { describe, expect, it } from "vitest";
import { type CounterState, type LimitSpec, take } from "./algorithms.ts";

const spec = (algorithm: LimitSpec["algorithm"], limit: number, windowMs: number, refill = limit): LimitSpec => ({
  algorithm,
  limit,
  windowMs,
  refill,
});

/** Takes one token `times` times from time `now`, threading the state; returns the grants. */
function run(s: LimitSpec, now: number, times: number, state?: CounterState): { granted: number; state: CounterState | undefined } {
  let granted = 0;
  let current = state;
  for (let i = 0; i < times; i++) {
    const outcome = take(s, current, now, 1);
    granted += outcome.granted;
    current = outcome.state;
  }
  return { granted, state: current };
}

describe("fixed window", () => {
  const s = spec("fixed-window", 5, 1000);

  it("admits exactly the limit per window and resets at the window's end", () => {
    const first = run(s, 10_100, 8);
    expect(first.granted).toBe(5);
    const refused = take(s, first.state, 10_900, 1);
    expect(refused).toMatchObject({ granted: 0, remaining: 0, resetAt: 11_000, retryAt: 11_000 });
    expect(run(s, 11_000, 8, first.state).granted).toBe(5);
  });

  it("grants a lease in part only when asked to", () => {
    const { state } = run(s, 0, 3);
    expect(take(s, state, 1, 5).granted).toBe(0);
    expect(take(s, state, 1, 5, true)).toMatchObject({ granted: 2, remaining: 0 });
  });
});

describe("sliding window", () => {
  const s = spec("sliding-window", 10, 1000);

  it("weights the previous window by the share the sliding window still covers", () => {
    const full = run(s, 500, 10);
    expect(full.granted).toBe(10);
    // At 25% into the next window, 75% of the previous 10 still counts: 7, so 3 fit.
    expect(run(s, 1250, 10, full.state).granted).toBe(3);
  });

  it("says when a refused request could pass", () => {
    const full = run(s, 500, 10).state;
    const refused = take(s, full, 1000, 1);
    expect(refused.granted).toBe(0);
    // floor((1 - f) * 10) < 10 as soon as f > 0: 1 ms into the window.
    expect(refused.retryAt).toBe(1001);
    const admitted = take(s, full, refused.retryAt, 1);
    expect(admitted.granted).toBe(1);
  });

  it("forgets counts older than one window", () => {
    const full = run(s, 500, 10).state;
    expect(run(s, 2500, 10, full).granted).toBe(10);
  });
});

describe("token bucket", () => {
  const s = spec("token-bucket", 10, 1000, 2);

  it("starts full, refills `refill` tokens per interval up to the limit", () => {
    const drained = run(s, 0, 12);
    expect(drained.granted).toBe(10);
    expect(run(s, 999, 1, drained.state).granted).toBe(0);
    expect(run(s, 1000, 5, drained.state).granted).toBe(2);
    expect(run(s, 60_000, 20, drained.state).granted).toBe(10);
  });

  it("refuses a take larger than what is left without consuming, unless partial", () => {
    const { state } = run(s, 0, 7);
    const refused = take(s, state, 1, 5);
    expect(refused).toMatchObject({ granted: 0, remaining: 3, retryAt: 1000 });
    expect(take(s, refused.state, 1, 5, true)).toMatchObject({ granted: 3, remaining: 0 });
  });

  it("expires its state once the bucket would be full again", () => {
    const outcome = take(s, undefined, 0, 4);
    // 4 tokens missing at 2 per second: full after 2 intervals.
    expect(outcome.expiresAt).toBe(2000);
  });
});
