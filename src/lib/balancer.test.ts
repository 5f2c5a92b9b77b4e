import { describe, expect, it } from "vitest";
import { LeastInFlight, WeightedRoundRobin } from "./balancer.ts";

describe("WeightedRoundRobin", () => {
  it("honours weights exactly over a cycle and interleaves them", () => {
    const balancer = new WeightedRoundRobin([5, 1, 1]);
    const picks = Array.from({ length: 7 }, () => balancer.pick());
    expect(picks.filter((p) => p === 0)).toHaveLength(5);
    expect(picks.filter((p) => p === 1)).toHaveLength(1);
    expect(picks.filter((p) => p === 2)).toHaveLength(1);
    // Smooth: the heavy target never takes more than 3 picks in a row out of 7.
    expect(picks.join("")).not.toContain("0000");
  });

  it("spreads equal weights round robin", () => {
    const balancer = new WeightedRoundRobin([1, 1, 1]);
    expect(Array.from({ length: 6 }, () => balancer.pick())).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it("skips the targets it is told to, and finds none when told to skip all", () => {
    const balancer = new WeightedRoundRobin([1, 1]);
    for (let i = 0; i < 4; i++) expect(balancer.pick((t) => t === 0)).toBe(1);
    expect(balancer.pick(() => true)).toBe(-1);
  });
});

describe("LeastInFlight", () => {
  it("picks the target with the fewest attempts in flight", () => {
    const balancer = new LeastInFlight([1, 1, 1]);
    balancer.started(0);
    balancer.started(0);
    balancer.started(1);
    expect(balancer.pick()).toBe(2);
    balancer.started(2);
    balancer.started(2);
    expect(balancer.pick()).toBe(1);
    balancer.finished(0);
    balancer.finished(0);
    expect(balancer.pick()).toBe(0);
  });

  it("weights load: a weight-2 target takes twice the in-flight attempts", () => {
    const balancer = new LeastInFlight([2, 1]);
    const counts = [0, 0];
    for (let i = 0; i < 30; i++) {
      const t = balancer.pick();
      balancer.started(t);
      counts[t] = (counts[t] ?? 0) + 1;
    }
    expect(counts).toEqual([20, 10]);
  });

  it("rotates ties so an idle cluster still spreads", () => {
    const balancer = new LeastInFlight([1, 1, 1]);
    expect(new Set(Array.from({ length: 3 }, () => balancer.pick()))).toEqual(new Set([0, 1, 2]));
  });

  it("never counts below zero", () => {
    const balancer = new LeastInFlight([1]);
    balancer.finished(0);
    expect(balancer.inFlight()).toEqual([0]);
  });
});
