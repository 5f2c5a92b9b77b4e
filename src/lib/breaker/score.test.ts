import { describe, expect, it } from "vitest";
import { decayFactor, ejectionMs, latencyBaseline, latencyRatio, maxEjected, type ScoreSettings, targetScore } from "./score.ts";

const settings: ScoreSettings = {
  failureWeight: 0.6,
  latencyWeight: 0.4,
  threshold: 0.7,
  latencyBaselineMs: null,
  latencyFloorMs: 25,
  maxLatencyRatio: 4,
};

describe("breaker score", () => {
  it("halves with each half-life", () => {
    expect(decayFactor(0, 1000)).toBe(1);
    expect(decayFactor(1000, 1000)).toBeCloseTo(0.5);
    expect(decayFactor(3000, 1000)).toBeCloseTo(0.125);
  });

  it("judges a target against the median of the others, not itself", () => {
    expect(latencyBaseline(0, [400, 50, 60, 70], settings)).toBe(60);
    expect(latencyBaseline(1, [400, 50], settings)).toBe(400);
    // Alone, or with no measured peer, a target is its own baseline: latency never ejects it.
    expect(latencyBaseline(0, [90], settings)).toBe(90);
    expect(latencyBaseline(0, [90, null], settings)).toBe(90);
    expect(latencyBaseline(0, [90, 10], { ...settings, latencyBaselineMs: 200 })).toBe(200);
  });

  it("raises both sides to the floor and caps the ratio", () => {
    expect(latencyRatio(3, 1, settings)).toBe(1);
    expect(latencyRatio(100, 50, settings)).toBe(2);
    expect(latencyRatio(60_000, 50, settings)).toBe(4);
    expect(latencyRatio(null, 50, settings)).toBe(1);
    expect(latencyRatio(50, null, settings)).toBe(1);
  });

  it("trips on half failures at normal latency, or on 1.75x latency with no failures", () => {
    expect(targetScore(0, 1, settings)).toBeCloseTo(0.4);
    expect(targetScore(0.5, 1, settings)).toBeCloseTo(0.7);
    expect(targetScore(0.49, 1, settings)).toBeLessThan(settings.threshold);
    expect(targetScore(0, 1.75, settings)).toBeCloseTo(0.7);
    expect(targetScore(1, 1, settings)).toBeCloseTo(1);
  });

  it("always allows one ejection, and otherwise the percentage rounded down", () => {
    expect(maxEjected(1, 50)).toBe(1);
    expect(maxEjected(2, 10)).toBe(1);
    expect(maxEjected(10, 50)).toBe(5);
    expect(maxEjected(3, 50)).toBe(1);
  });

  it("grows ejections linearly with their count, capped, stretched by the jitter", () => {
    expect(ejectionMs(1, 1000, 10_000, 0.2, 0)).toBe(1000);
    expect(ejectionMs(3, 1000, 10_000, 0.2, 0)).toBe(3000);
    expect(ejectionMs(50, 1000, 10_000, 0.2, 0)).toBe(10_000);
    expect(ejectionMs(1, 1000, 10_000, 0.2, 1)).toBe(1200);
  });
});
