/**
 * The contract every LimiterBackend honours, as one suite each backend's test file runs (the
 * pattern of Hono's router/common.case.test.ts): for every algorithm the schema allows, the same
 * sequence of takes gives the same grants on every backend as on the in-memory reference
 * (memory.ts, over the pure algorithms). Expected values below are the reference's answers.
 *
 * Durable Object and Redis state outlive a run, so every test works under a fresh prefix. Windows
 * are epoch-aligned: a sequence with literal expectations runs inside one window, and is run again
 * on fresh keys if it happened to cross a boundary; cases that wait for a rollover use short
 * windows and assert bounds computed from the clock around each call, never a duration.
 */
import { describe, expect, it } from "vitest";
import { seeded } from "../../../test/seeded.ts";
import { type LimitSpec, RATE_LIMIT_ALGORITHMS, type RateLimitAlgorithm } from "../../lib/rate-limit/algorithms.ts";
import type { Grant } from "../../lib/rate-limit/decision.ts";
import type { LimiterBackend } from "./backend.ts";
import { MemoryLimiter } from "./memory.ts";

/** Builds the backend under test for one policy: its arithmetic and its counters' prefix. */
export type MakeLimiterBackend = (spec: LimitSpec, prefix: string) => LimiterBackend;

/** The contract's cases, by id, so a backend can name the ones it is known to break. */
export type LimiterContractCase =
  | "grants-to-limit"
  | "refusal-times"
  | "all-or-nothing"
  | "over-limit-ask"
  | "partial"
  | "independent-keys"
  | "prefixes"
  | "concurrent-takes"
  | "concurrent-leases"
  | "concurrent-keys"
  | "reference-sequence"
  | "rollover"
  | "fading-previous-window";

/** What a backend says about itself; the contract checks each claim. */
export interface LimiterBackendTraits {
  /**
   * Whether `take(key, ask, true)` grants part of `ask` when less is left (the interface allows a
   * backend not to). One that cannot must answer a partial ask all or nothing.
   */
  grantsInPart: boolean;
  /** Whether two instances built with the same prefix share counters, as isolates of one deployment do. */
  sharedAcrossInstances: boolean;
  /**
   * Cases this backend is known to fail, each with the defect behind it. They run as expected
   * failures (`it.fails`): still run on every test run, reported, and turning red once the defect is
   * fixed so the entry gets removed. Never a way to skip a case that merely flakes.
   */
  knownDefects?: Partial<Record<LimiterContractCase, string>>;
}

/** Requests per window (bucket size) of the cases with literal expectations. */
const LIMIT = 20;
/** Long enough that a sequence rarely crosses a window boundary, or ever sees a refill. */
const LONG_WINDOW_MS = 60_000;
/** Attempts at running a sequence inside one window before the case gives up. */
const WINDOW_ATTEMPTS = 3;

function specOf(algorithm: RateLimitAlgorithm, limit: number, windowMs: number, refill = limit): LimitSpec {
  return { algorithm, limit, windowMs, refill };
}

const windowIndex = (windowMs: number, at: number) => Math.floor(at / windowMs);

function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

/** Sleeps until just after the next window boundary, so a short sequence has the whole window. */
function untilWindowStart(windowMs: number): Promise<void> {
  return sleepUntil((windowIndex(windowMs, Date.now()) + 1) * windowMs + 10);
}

/** The granted/remaining pair, the part of a grant a sequence is compared on. */
const counts = (grant: Grant) => ({ granted: grant.granted, remaining: grant.remaining });

/** Takes `ask` tokens `times` times in a row. */
async function takeEach(backend: LimiterBackend, key: string, times: number, ask = 1, partial = false): Promise<Grant[]> {
  const grants: Grant[] = [];
  for (let i = 0; i < times; i++) grants.push(await backend.take(key, ask, partial));
  return grants;
}

/** Takes one token at a time until refused (at most `max` takes); returns the count and the refusal. */
async function takeUntilRefused(backend: LimiterBackend, key: string, max: number) {
  let granted = 0;
  for (let i = 0; i < max; i++) {
    const grant = await backend.take(key, 1, false);
    if (grant.granted === 0) return { granted, refusal: grant };
    granted += grant.granted;
  }
  return { granted, refusal: null };
}

const sum = (grants: readonly Grant[]) => grants.reduce((total, grant) => total + grant.granted, 0);

/**
 * Wraps a backend so every grant it returns is checked against what holds for any take: a whole
 * number of tokens, never more than asked, all or nothing unless granted in part, a remaining count
 * within the limit, a reset ahead of the call and at most one window away, and after a refusal
 * with nothing left a retry time in the future and at most one window (plus the sliding window's
 * 1 ms) away.
 */
function checked(backend: LimiterBackend, spec: LimitSpec, traits: LimiterBackendTraits): LimiterBackend {
  return {
    async take(key, ask, partial) {
      const calledAt = Date.now();
      const grant = await backend.take(key, ask, partial);
      const answeredAt = Date.now();
      const what = `take(${JSON.stringify(key)}, ${ask}, ${partial}) -> ${JSON.stringify(grant)}`;
      expect(Number.isInteger(grant.granted), what).toBe(true);
      expect(grant.granted, what).toBeGreaterThanOrEqual(0);
      expect(grant.granted, what).toBeLessThanOrEqual(ask);
      if (!(partial && traits.grantsInPart)) expect([0, ask], what).toContain(grant.granted);
      expect(Number.isInteger(grant.remaining), what).toBe(true);
      expect(grant.remaining, what).toBeGreaterThanOrEqual(0);
      expect(grant.remaining, what).toBeLessThanOrEqual(spec.limit);
      expect(grant.resetAt, what).toBeGreaterThan(calledAt);
      expect(grant.resetAt, what).toBeLessThanOrEqual(answeredAt + spec.windowMs);
      // Refused with nothing left: no token frees before retryAt. (Refused with some left, an ask
      // above them, one token could pass at once, so retryAt need not be ahead.)
      if (grant.granted === 0 && grant.remaining === 0) {
        expect(grant.retryAt, what).toBeGreaterThan(calledAt);
        expect(grant.retryAt, what).toBeLessThanOrEqual(answeredAt + spec.windowMs + 1);
      }
      return grant;
    },
  };
}

/**
 * Runs the limiter-backend contract against `makeBackend`: each algorithm's counting, all-or-nothing
 * and partial grants, reset and retry times, key and prefix independence, concurrency, agreement
 * with the in-memory reference, and rollover over real (short) time.
 */
export function runLimiterBackendContract(name: string, makeBackend: MakeLimiterBackend, traits: LimiterBackendTraits): void {
  /** A case, or an expected failure when the backend declares the defect that breaks it. */
  const contractCase = (id: LimiterContractCase, title: string, body: () => Promise<void>, timeoutMs?: number) => {
    const defect = traits.knownDefects?.[id];
    if (defect === undefined) it(title, body, timeoutMs);
    else it.fails(`${title} [known defect: ${defect}]`, body, timeoutMs);
  };

  const freshPrefix = () => `contract:${name}:${crypto.randomUUID()}`;
  const make = (spec: LimitSpec, prefix = freshPrefix()) => checked(makeBackend(spec, prefix), spec, traits);

  /**
   * Runs `body` on a backend under a fresh prefix until one run stays inside one window (fixed and
   * sliding windows) or one refill interval (token bucket), so literal expectations never meet a reset.
   */
  async function withinOneWindow<T>(
    spec: LimitSpec,
    body: (backend: LimiterBackend, prefix: string) => Promise<T>,
  ): Promise<{ value: T; startedAt: number; endedAt: number }> {
    for (let attempt = 1; ; attempt++) {
      const prefix = freshPrefix();
      const startedAt = Date.now();
      const value = await body(make(spec, prefix), prefix);
      const endedAt = Date.now();
      const crossed =
        spec.algorithm === "token-bucket"
          ? endedAt - startedAt >= spec.windowMs
          : windowIndex(spec.windowMs, startedAt) !== windowIndex(spec.windowMs, endedAt);
      if (!crossed) return { value, startedAt, endedAt };
      if (attempt >= WINDOW_ATTEMPTS) throw new Error(`${WINDOW_ATTEMPTS} runs each crossed a ${spec.windowMs} ms window boundary`);
    }
  }

  /**
   * From just after a window boundary, takes one token at a time from a fresh key until refused,
   * all inside that window (again on a fresh key if a stalled machine crossed the boundary).
   */
  async function exhaustInOneWindow(spec: LimitSpec): Promise<{ backend: LimiterBackend; granted: number; refusal: Grant }> {
    for (let attempt = 1; attempt <= WINDOW_ATTEMPTS; attempt++) {
      await untilWindowStart(spec.windowMs);
      const startedAt = Date.now();
      const backend = make(spec);
      const { granted, refusal } = await takeUntilRefused(backend, "k", spec.limit + 1);
      const sameWindow = windowIndex(spec.windowMs, startedAt) === windowIndex(spec.windowMs, Date.now());
      if (refusal !== null && sameWindow) return { backend, granted, refusal };
    }
    throw new Error(`${WINDOW_ATTEMPTS} attempts at exhausting a key each crossed a ${spec.windowMs} ms window boundary`);
  }

  describe(`${name}: limiter backend contract`, () => {
    for (const algorithm of RATE_LIMIT_ALGORITHMS) {
      describe(algorithm, () => {
        const spec = specOf(algorithm, LIMIT, LONG_WINDOW_MS);

        contractCase("grants-to-limit", "a fresh key grants one token at a time up to the limit, then refuses", async () => {
          const { value: grants, startedAt, endedAt } = await withinOneWindow(spec, (backend) => takeEach(backend, "k", LIMIT + 3));
          expect(grants.map(counts)).toEqual([
            ...Array.from({ length: LIMIT }, (_, i) => ({ granted: 1, remaining: LIMIT - 1 - i })),
            ...Array.from({ length: 3 }, () => ({ granted: 0, remaining: 0 })),
          ]);
          // One counter, one reset: the window's end, or the bucket's first refill.
          const resets = new Set(grants.map((g) => g.resetAt));
          expect(resets.size).toBe(1);
          const [resetAt] = resets;
          if (algorithm === "token-bucket") {
            expect(resetAt).toBeGreaterThanOrEqual(startedAt + spec.windowMs);
            expect(resetAt).toBeLessThanOrEqual(endedAt + spec.windowMs);
          } else {
            expect(resetAt).toBe((windowIndex(spec.windowMs, startedAt) + 1) * spec.windowMs);
          }
        });

        contractCase("refusal-times", "a refusal says when to retry: no sooner than the counter frees a token", async () => {
          const { value } = await withinOneWindow(spec, async (backend) => {
            await backend.take("k", LIMIT, false);
            return backend.take("k", 1, false);
          });
          expect(value.granted).toBe(0);
          if (algorithm === "sliding-window") {
            // A fresh key's previous window is empty: the full current one weighs until its end, and
            // one request fits 1 ms later, when the previous window starts to fade.
            expect(value.retryAt).toBeGreaterThanOrEqual(value.resetAt);
            expect(value.retryAt).toBeLessThanOrEqual(value.resetAt + 1);
          } else {
            expect(value.retryAt).toBe(value.resetAt);
          }
        });

        contractCase("all-or-nothing", "without partial, an ask above what is left gets nothing and takes nothing", async () => {
          const { value: grants } = await withinOneWindow(spec, async (backend) => [
            await backend.take("k", LIMIT - 3, false),
            await backend.take("k", 5, false),
            await backend.take("k", 4, false),
            await backend.take("k", 3, false),
            await backend.take("k", 1, false),
          ]);
          expect(grants.map(counts)).toEqual([
            { granted: LIMIT - 3, remaining: 3 },
            { granted: 0, remaining: 3 },
            { granted: 0, remaining: 3 },
            { granted: 3, remaining: 0 },
            { granted: 0, remaining: 0 },
          ]);
        });

        contractCase("over-limit-ask", "an ask above the whole limit is refused and takes nothing", async () => {
          const { value: grants } = await withinOneWindow(spec, async (backend) => [
            await backend.take("k", LIMIT + 1, false),
            await backend.take("k", LIMIT, false),
          ]);
          expect(grants.map(counts)).toEqual([
            { granted: 0, remaining: LIMIT },
            { granted: LIMIT, remaining: 0 },
          ]);
        });

        if (traits.grantsInPart) {
          contractCase("partial", "with partial, an ask above what is left gets what is left", async () => {
            const { value: grants } = await withinOneWindow(spec, async (backend) => [
              await backend.take("k", LIMIT - 3, true),
              await backend.take("k", 5, true),
              await backend.take("k", 5, true),
              await backend.take("fresh", LIMIT + 5, true),
              await backend.take("fresh", 1, true),
            ]);
            expect(grants.map(counts)).toEqual([
              { granted: LIMIT - 3, remaining: 3 },
              { granted: 3, remaining: 0 },
              { granted: 0, remaining: 0 },
              { granted: LIMIT, remaining: 0 },
              { granted: 0, remaining: 0 },
            ]);
          });
        } else {
          contractCase("partial", "with partial, a backend that cannot grant in part still answers all or nothing", async () => {
            const { value: grants } = await withinOneWindow(spec, async (backend) => [
              await backend.take("k", LIMIT - 3, true),
              await backend.take("k", 5, true),
              await backend.take("k", 3, true),
              await backend.take("k", 1, true),
            ]);
            expect(grants.map(counts)).toEqual([
              { granted: LIMIT - 3, remaining: 3 },
              { granted: 0, remaining: 3 },
              { granted: 3, remaining: 0 },
              { granted: 0, remaining: 0 },
            ]);
          });
        }

        contractCase("independent-keys", "keys are independent, also when they differ only in case or share a prefix", async () => {
          const base = "ip:203.0.113.7";
          // Real keys are tagged parts joined by "|" (key.ts), or a SHA-256 past 256 characters.
          const others = [
            "IP:203.0.113.7",
            "ip:203.0.113.70",
            "ip:203.0.113.",
            `${base}|subject:alice`,
            `${base}:1`,
            ` ${base}`,
            `${base} `,
            "ip:203.0.113.7\u0307",
            `${"k".repeat(255)}a`,
            `${"k".repeat(255)}A`,
          ];
          const { value } = await withinOneWindow(spec, async (backend) => {
            const first = await backend.take(base, LIMIT - 3, false);
            const exhausted: Grant[][] = [];
            for (const key of others) exhausted.push([await backend.take(key, LIMIT, false), await backend.take(key, 1, false)]);
            return { first, exhausted, after: await takeEach(backend, base, 2, 3) };
          });
          expect(counts(value.first)).toEqual({ granted: LIMIT - 3, remaining: 3 });
          expect(value.exhausted.map((pair) => pair.map(counts))).toEqual(
            others.map(() => [
              { granted: LIMIT, remaining: 0 },
              { granted: 0, remaining: 0 },
            ]),
          );
          // What the other keys took left the first key's three tokens where they were.
          expect(value.after.map(counts)).toEqual([
            { granted: 3, remaining: 0 },
            { granted: 0, remaining: 0 },
          ]);
        });

        contractCase(
          "prefixes",
          traits.sharedAcrossInstances
            ? "instances with the same prefix share a counter; another prefix has its own"
            : "each instance keeps its own counters, whatever the prefix",
          async () => {
            const { value } = await withinOneWindow(spec, async (backend, prefix) => {
              const exhausted = [await backend.take("k", LIMIT, false), await backend.take("k", 1, false)];
              const samePrefix = make(spec, prefix);
              const otherPrefix = make(spec, `${prefix}-other`);
              return {
                exhausted,
                samePrefix: await samePrefix.take("k", 1, false),
                otherPrefix: await otherPrefix.take("k", LIMIT, false),
              };
            });
            expect(value.exhausted.map(counts)).toEqual([
              { granted: LIMIT, remaining: 0 },
              { granted: 0, remaining: 0 },
            ]);
            expect(counts(value.samePrefix)).toEqual(
              traits.sharedAcrossInstances ? { granted: 0, remaining: 0 } : { granted: 1, remaining: LIMIT - 1 },
            );
            expect(counts(value.otherPrefix)).toEqual({ granted: LIMIT, remaining: 0 });
          },
        );

        contractCase("concurrent-takes", "50 concurrent takes of 1 against a limit of 20 grant exactly 20, one per count", async () => {
          const { value } = await withinOneWindow(spec, async (backend) => ({
            burst: await Promise.all(Array.from({ length: 50 }, () => backend.take("k", 1, false))),
            after: await backend.take("k", 1, false),
          }));
          const granted = value.burst.filter((g) => g.granted === 1);
          expect(granted).toHaveLength(LIMIT);
          expect(value.burst.filter((g) => g.granted === 0)).toHaveLength(50 - LIMIT);
          // Serialized on one counter: each grant saw a different count, from LIMIT - 1 down to 0.
          expect(granted.map((g) => g.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: LIMIT }, (_, i) => i));
          expect(counts(value.after)).toEqual({ granted: 0, remaining: 0 });
        });

        contractCase("concurrent-leases", "concurrent lease-sized asks never grant more than the limit together", async () => {
          const { value } = await withinOneWindow(spec, async (backend) => ({
            burst: await Promise.all(Array.from({ length: 12 }, () => backend.take("k", 3, true))),
            after: await backend.take("k", 1, true),
          }));
          const sizes = value.burst.map((g) => g.granted).sort((a, b) => b - a);
          // Six asks of 3 fit in 20; the 2 left go to one more ask only if the backend grants in part.
          expect(sizes).toEqual([3, 3, 3, 3, 3, 3, ...(traits.grantsInPart ? [2] : []), ...Array(traits.grantsInPart ? 5 : 6).fill(0)]);
          expect(counts(value.after)).toEqual(traits.grantsInPart ? { granted: 0, remaining: 0 } : { granted: 1, remaining: 1 });
        });

        contractCase("concurrent-keys", "concurrent takes spread over several keys grant each key exactly its limit", async () => {
          const keys = ["a", "A", "a:1", "a|b"];
          // 30 takes per key, interleaved: a, A, a:1, a|b, a, A, ...
          const order = Array.from({ length: keys.length * 30 }, (_, i) => keys[i % keys.length] as string);
          const { value } = await withinOneWindow(spec, (backend) => Promise.all(order.map((key) => backend.take(key, 1, false))));
          const perKey = keys.map((key) => sum(value.filter((_grant, i) => order[i] === key)));
          expect(perKey).toEqual(keys.map(() => LIMIT));
        });

        contractCase(
          "reference-sequence",
          "a mixed sequence of asks over several keys gets the reference's grants, take by take",
          async () => {
            const random = seeded(0x5eed + RATE_LIMIT_ALGORITHMS.indexOf(algorithm));
            const keys = ["user-1", "User-1", "user-10"];
            const steps = Array.from({ length: 80 }, () => ({
              key: keys[Math.floor(random() * keys.length)] as string,
              ask: 1 + Math.floor(random() * 6),
              partial: random() < 0.5,
            }));
            const { value } = await withinOneWindow(spec, async (backend) => {
              let clock = Date.now();
              const reference = new MemoryLimiter(spec, () => clock);
              const actual: object[] = [];
              const expected: object[] = [];
              for (const [i, step] of steps.entries()) {
                clock = Date.now();
                const got = await backend.take(step.key, step.ask, step.partial);
                // A backend that cannot grant in part answers a partial ask all or nothing.
                const want = await reference.take(step.key, step.ask, step.partial && traits.grantsInPart);
                actual.push({ i, ...step, ...counts(got) });
                expected.push({ i, ...step, ...counts(want) });
              }
              return { actual, expected };
            });
            expect(value.actual).toEqual(value.expected);
          },
        );

        if (algorithm === "fixed-window") {
          contractCase(
            "rollover",
            "refuses until retryAt, then the next window grants the full limit again",
            async () => {
              const short = specOf(algorithm, 3, 1_000);
              const { backend, granted, refusal } = await exhaustInOneWindow(short);
              expect(granted).toBe(3);
              expect(refusal.retryAt).toBe(refusal.resetAt);
              await sleepUntil(refusal.retryAt - 300);
              const early = await backend.take("k", 1, false);
              // Answered before retryAt, hence asked before it: still this window, still refused.
              if (Date.now() < refusal.retryAt) expect(early.granted).toBe(0);
              await sleepUntil(refusal.retryAt + 50);
              const next = await takeEach(backend, "k", 4);
              expect(next.map((g) => g.granted)).toEqual([1, 1, 1, 0]);
              expect(next[0]?.resetAt).toBeGreaterThanOrEqual(refusal.resetAt + short.windowMs);
            },
            10_000,
          );
        }

        if (algorithm === "sliding-window") {
          contractCase(
            "rollover",
            "after the rollover the previous window still weighs, by the share of it still covered",
            async () => {
              const short = specOf(algorithm, 4, 1_000);
              const { backend, granted, refusal } = await exhaustInOneWindow(short);
              const firstWindow = windowIndex(short.windowMs, refusal.resetAt - 1);
              await sleepUntil((firstWindow + 1) * short.windowMs + 100);
              const before = Date.now();
              const second = await takeUntilRefused(backend, "k", 4);
              const after = Date.now();
              expect(granted).toBe(4);
              expect(windowIndex(short.windowMs, before)).toBe(firstWindow + 1);
              // At fraction f into the next window, floor((1 - f) × 4) of the previous 4 still count.
              const admissible = (at: number) => {
                if (windowIndex(short.windowMs, at) !== firstWindow + 1) return short.limit;
                const f = (at % short.windowMs) / short.windowMs;
                return short.limit - Math.floor((1 - f) * short.limit);
              };
              expect(second.granted).toBeGreaterThanOrEqual(admissible(before));
              expect(second.granted).toBeLessThanOrEqual(admissible(after));
              expect(second.granted).toBeGreaterThan(0);
            },
            10_000,
          );

          contractCase(
            "fading-previous-window",
            "a key refused while the previous window fades is admitted again at retryAt, before the window ends",
            async () => {
              const short = specOf(algorithm, 4, 1_000);
              const exhausted = await exhaustInOneWindow(short);
              const backend = exhausted.backend;
              await sleepUntil(exhausted.refusal.resetAt + 100);
              const { refusal } = await takeUntilRefused(backend, "k", 4);
              if (refusal === null) throw new Error("the previous window did not weigh at all");
              // Fewer than the limit counted in this window: the refusal lifts as the previous one fades.
              expect(refusal.retryAt).toBeLessThan(refusal.resetAt);
              await sleepUntil(refusal.retryAt + 30);
              expect((await backend.take("k", 1, false)).granted).toBe(1);
            },
            10_000,
          );
        }

        if (algorithm === "token-bucket") {
          contractCase(
            "rollover",
            "refills `refill` tokens per interval after a refusal, from retryAt on",
            async () => {
              const short = specOf(algorithm, 4, 1_000, 2);
              const backend = make(short);
              const drained = await takeUntilRefused(backend, "k", 5);
              if (drained.refusal === null) throw new Error("a bucket of 4 granted 5 tokens");
              const refusal = drained.refusal;
              expect(drained.granted).toBe(4);
              expect(refusal.retryAt).toBe(refusal.resetAt);
              await sleepUntil(refusal.retryAt + 50);
              const before = Date.now();
              const grants = await takeEach(backend, "k", 4);
              const after = Date.now();
              // The bucket was last refilled one interval before the refusal's retryAt.
              const refilledAt = refusal.resetAt - short.windowMs;
              const tokensAt = (at: number) => Math.min(short.limit, Math.floor((at - refilledAt) / short.windowMs) * short.refill);
              expect(sum(grants)).toBeGreaterThanOrEqual(tokensAt(before));
              expect(sum(grants)).toBeLessThanOrEqual(tokensAt(after));
              const next = grants[0] as Grant;
              expect(next.granted).toBe(1);
              expect(next.resetAt - refusal.resetAt).toBeGreaterThan(0);
              expect((next.resetAt - refusal.resetAt) % short.windowMs).toBe(0);
            },
            10_000,
          );

          contractCase(
            "rollover",
            "refills up to the bucket's size and never beyond",
            async () => {
              const short = specOf(algorithm, 4, 250, 2);
              const backend = make(short);
              const drained = await takeUntilRefused(backend, "k", 5);
              if (drained.refusal === null) throw new Error("a bucket of 4 granted 5 tokens");
              // Four intervals: 8 tokens' worth of refills for a bucket of 4.
              await sleepUntil(drained.refusal.resetAt + 3 * short.windowMs + 50);
              const refilled = await takeEach(backend, "k", 6);
              expect(refilled.map((g) => g.granted)).toEqual([1, 1, 1, 1, 0, 0]);
            },
            10_000,
          );
        }
      });
    }
  });
}
