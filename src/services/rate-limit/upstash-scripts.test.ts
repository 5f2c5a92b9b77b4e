/**
 * The Lua scripts against the pure algorithms they mirror, on a real Redis: long seeded sequences of
 * takes on a clock of the test's own (the scripts' ARGV clock, the one difference from what the
 * gateway runs), with steps that land on window ends, expiries and the instants around them, and
 * limits that change under a live counter. Every reply, and the state left in Redis, must equal what
 * algorithms.ts computes from the same state at the same instant.
 */

import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import { afterAll, describe, expect, it } from "vitest";
import { seeded } from "../../../test/seeded.ts";
import { type CounterState, type LimitSpec, RATE_LIMIT_ALGORITHMS, take } from "../../lib/rate-limit/algorithms.ts";
import { grantOfReply, limitScript, limitScriptArgs } from "./upstash-scripts.ts";

const redis = new Redis({
  url: env.UPSTASH_REDIS_REST_URL as string,
  token: env.UPSTASH_REDIS_REST_TOKEN as string,
  enableTelemetry: false,
});

/** Every key a case wrote; the simulated clock runs ahead of Redis's, so none would expire during the run. */
const written = new Set<string>();
afterAll(async () => {
  if (written.size > 0) await redis.del(...written);
});

/** The hash fields a state is stored as (upstash-scripts.ts), expiresAt included. */
function storedFields(state: CounterState, expiresAt: number): Record<string, number> {
  switch (state.algorithm) {
    case "fixed-window":
      return { e: expiresAt, w: state.window, n: state.used };
    case "sliding-window":
      return { e: expiresAt, w: state.window, c: state.current, p: state.previous };
    case "token-bucket":
      return { e: expiresAt, t: state.tokens, r: state.refilledAt };
  }
}

/** The next instant: just after now, inside the window, at or around the next window end or expiry, or windows later. */
function nextInstant(random: () => number, now: number, windowMs: number, expiresAt: number | undefined): number {
  const end = (Math.floor(now / windowMs) + 1) * windowMs;
  const choice = random();
  if (choice < 0.3) return now + Math.floor(random() * 20);
  if (choice < 0.55) return now + Math.floor(random() * windowMs);
  if (choice < 0.7) return Math.max(now, end + Math.floor(random() * 3) - 1);
  if (choice < 0.85 && expiresAt !== undefined) return Math.max(now, expiresAt + Math.floor(random() * 3) - 1);
  return now + Math.floor(random() * 3 * windowMs);
}

describe("the Lua scripts compute what algorithms.ts computes", () => {
  const shapes = [
    { limit: 5, windowMs: 1_000, refill: 2 },
    { limit: 7, windowMs: 3_000, refill: 3 },
    { limit: 20, windowMs: 60_000, refill: 20 },
    { limit: 3, windowMs: 7_000, refill: 1 },
  ];

  for (const algorithm of RATE_LIMIT_ALGORITHMS) {
    it.each(shapes)(`${algorithm}: limit $limit, window $windowMs ms, refill $refill`, async (shape) => {
      const random = seeded(shape.limit * 1_000_003 + shape.windowMs + RATE_LIMIT_ALGORITHMS.indexOf(algorithm));
      const script = limitScript(algorithm);
      const keys = ["a", "b"].map((name) => `scripts-test:${crypto.randomUUID()}:${name}`);
      for (const key of keys) written.add(key);
      const reference = new Map<string, { state: CounterState; expiresAt: number }>();
      // Ahead of any real clock, so Redis never expires a key before the script's own clock says so.
      let now = Date.now() + 86_400_000 + Math.floor(random() * shape.windowMs);
      for (let step = 0; step < 200; step++) {
        const key = keys[Math.floor(random() * keys.length)] as string;
        const stored = reference.get(key);
        now = nextInstant(random, now, shape.windowMs, stored?.expiresAt);
        // Now and then the policy's limit (or refill) changes under the live counter, as a config edit does.
        const spec: LimitSpec =
          random() < 0.15
            ? {
                algorithm,
                windowMs: shape.windowMs,
                limit: 1 + Math.floor(random() * 2 * shape.limit),
                refill: 1 + Math.floor(random() * 4),
              }
            : { algorithm, ...shape };
        const ask = 1 + Math.floor(random() * (shape.limit + 3));
        const partial = random() < 0.5;

        const want = take(spec, stored && stored.expiresAt > now ? stored.state : undefined, now, ask, partial);
        reference.set(key, { state: want.state, expiresAt: want.expiresAt });
        const [reply, hash] = await redis
          .pipeline()
          .eval(script, [key], limitScriptArgs(spec, ask, partial, now))
          .hgetall(key)
          .exec();

        const what = `step ${step}: take(${JSON.stringify(spec)}, ${key.slice(-1)}, now ${now}, ask ${ask}, partial ${partial})`;
        const { granted, remaining, resetAt, retryAt } = want;
        expect(grantOfReply(reply), what).toEqual({ granted, remaining, resetAt, retryAt });
        const fields = Object.fromEntries(Object.entries(hash ?? {}).map(([field, value]) => [field, Number(value)]));
        expect(fields, what).toEqual(storedFields(want.state, want.expiresAt));
      }
    });
  }

  it("refuses a reply that is not four numbers", () => {
    expect(() => grantOfReply("<html>")).toThrow(/unexpected script reply/);
    expect(() => grantOfReply([1, 2, 3])).toThrow(/unexpected script reply/);
    expect(grantOfReply([1, 2, 3, 4])).toEqual({ granted: 1, remaining: 2, resetAt: 3, retryAt: 4 });
  });
});
