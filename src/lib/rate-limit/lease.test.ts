import { describe, expect, it } from "vitest";
import { MemoryLimiter } from "../../services/rate-limit/memory.ts";
import type { LimitSpec } from "./algorithms.ts";
import { type Decision, type Grant, LimiterError } from "./decision.ts";
import { LeasePool } from "./lease.ts";

const HOUR = 3_600_000;

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function pool(backend: { take: (key: string, ask: number, partial: boolean) => Promise<Grant> }, now: () => number, leaseSize = 10) {
  return new LeasePool(
    { leaseSize, lowWater: Math.floor(leaseSize / 4), maxKeys: 100, failureBackoffMs: 1000 },
    (key, ask) => backend.take(key, ask, true),
    now,
  );
}

/** Takes one token and settles everything it started in the background. */
async function takeOne(p: LeasePool, key = "k", budgetMs = 1000): Promise<Decision> {
  const background: Promise<unknown>[] = [];
  const decision = await p.take(key, (work) => background.push(work), budgetMs);
  await Promise.all(background);
  return decision;
}

const fixed = (limit: number, windowMs = HOUR): LimitSpec => ({ algorithm: "fixed-window", limit, windowMs, refill: limit });

describe("LeasePool", () => {
  it("spends from memory in the steady state: about one backend call per three quarters of a lease", async () => {
    const t = clock();
    const backend = new MemoryLimiter(fixed(1_000_000), t.now);
    const p = pool(backend, t.now, 100);
    for (let i = 0; i < 10_000; i++) expect((await takeOne(p)).kind).toBe("allowed");
    // The first lease brings 100 tokens; each renewal (at 25 left) tops up to 100.
    expect(backend.calls).toBeLessThanOrEqual(Math.ceil(10_000 / 75) + 1);
    expect(backend.calls / 10_000).toBeLessThan(0.014);
  });

  it("answers from memory while the backend says the key is exhausted, until it may pass again", async () => {
    const t = clock(0);
    const backend = new MemoryLimiter(fixed(20, 1000), t.now);
    const p = pool(backend, t.now);
    let admitted = 0;
    for (let i = 0; i < 100; i++) if ((await takeOne(p)).kind === "allowed") admitted++;
    expect(admitted).toBe(20);
    const callsWhenBlocked = backend.calls;
    const refused = await takeOne(p);
    expect(refused).toMatchObject({ kind: "denied", retryAt: 1000 });
    expect(backend.calls).toBe(callsWhenBlocked);
    t.advance(1000);
    expect((await takeOne(p)).kind).toBe("allowed");
  });

  it("keeps admissions within limit + leaseSize × (isolates + 1) per window across isolates and windows", async () => {
    const t = clock(0);
    const limit = 50;
    const leaseSize = 8;
    const isolates = 6;
    const backend = new MemoryLimiter(fixed(limit, 1000), t.now);
    const pools = Array.from({ length: isolates }, () => pool(backend, t.now, leaseSize));
    const perWindow = new Map<number, number>();
    // 4,000 requests over 4 windows, spread over the isolates in a fixed pseudo-random order.
    let seed = 7;
    for (let i = 0; i < 4_000; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      const p = pools[seed % isolates] as LeasePool;
      if ((await takeOne(p)).kind === "allowed") {
        const window = Math.floor(t.now() / 1000);
        perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
      }
      t.advance(1);
    }
    expect(perWindow.size).toBe(4);
    for (const admitted of perWindow.values()) {
      expect(admitted).toBeLessThanOrEqual(limit + leaseSize * (isolates + 1));
      // Under-admission is bounded too: tokens stranded in isolates at most one lease each.
      expect(admitted).toBeGreaterThanOrEqual(limit - leaseSize * isolates);
    }
  });

  it("reports a failed backend, then stops calling it for the backoff", async () => {
    const t = clock();
    let calls = 0;
    const failing = {
      take: async (): Promise<Grant> => {
        calls++;
        throw new LimiterError("error", "down");
      },
    };
    const p = pool(failing, t.now);
    expect(await takeOne(p)).toEqual({ kind: "failed", failure: "error" });
    expect(await takeOne(p)).toEqual({ kind: "failed", failure: "error" });
    expect(calls).toBe(1);
    t.advance(1000);
    await takeOne(p);
    expect(calls).toBe(2);
  });

  it("gives up waiting on a renewal after the wait budget", async () => {
    const hanging = { take: () => new Promise<Grant>(() => {}) };
    const p = pool(hanging, Date.now);
    const decision = await p.take("k", () => {}, 20);
    expect(decision).toEqual({ kind: "failed", failure: "timeout" });
  });

  it("shares one renewal among concurrent requests that find the lease empty", async () => {
    const t = clock();
    const backend = new MemoryLimiter(fixed(1000), t.now);
    const p = pool(backend, t.now, 20);
    const background: Promise<unknown>[] = [];
    const decisions = await Promise.all(Array.from({ length: 8 }, () => p.take("k", (w) => background.push(w), 1000)));
    await Promise.all(background);
    expect(decisions.every((d) => d.kind === "allowed")).toBe(true);
    expect(backend.calls).toBe(1);
  });
});
