import { describe, expect, it } from "vitest";
import { RetryBudget } from "./budget.ts";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("RetryBudget", () => {
  it("allows minPerSecond x 10 retries in the window with no traffic, then refuses", () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1 }, c.now);
    for (let i = 0; i < 10; i++) expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
  });

  it("adds ratio x requests to the allowance", () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0 }, c.now);
    for (let i = 0; i < 100; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryRetry()) granted++;
    expect(granted).toBe(20);
  });

  it("forgets requests and retries older than the 10 s window", () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1 }, c.now);
    for (let i = 0; i < 10; i++) budget.tryRetry();
    expect(budget.tryRetry()).toBe(false);
    c.advance(5_000);
    expect(budget.tryRetry()).toBe(false);
    c.advance(5_500);
    expect(budget.tryRetry()).toBe(true);
  });

  it("a zero budget never retries", () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 }, clock().now);
    budget.recordRequest();
    expect(budget.tryRetry()).toBe(false);
  });
});
