import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../durable-objects/rate-limiter.ts";
import type { LimitSpec } from "../../lib/rate-limit/algorithms.ts";
import { runLimiterBackendContract } from "./backend.case.ts";
import { DurableObjectLimiter } from "./durable-object.ts";

/** Room for a fresh local runtime's first object call (over a second of module load); production objects answer in milliseconds. */
const CONTRACT_TIMEOUT_MS = 10_000;

runLimiterBackendContract(
  "durable-object",
  (spec, prefix) => new DurableObjectLimiter(env.RATE_LIMITER, prefix, spec, CONTRACT_TIMEOUT_MS),
  {
    grantsInPart: true,
    sharedAcrossInstances: true,
  },
);

describe("durable-object backend failures", () => {
  const spec: LimitSpec = { algorithm: "fixed-window", limit: 5, windowMs: 3_600_000, refill: 5 };
  const freshPrefix = () => `failure:${crypto.randomUUID()}`;

  it("rejects with 'unconfigured' when the RATE_LIMITER binding is missing", async () => {
    const limiter = new DurableObjectLimiter(undefined, freshPrefix(), spec, CONTRACT_TIMEOUT_MS);
    await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "unconfigured" });
  });

  it.each(["Durable Object is overloaded. Too many requests queued.", "Durable Object reset because its code was updated."])(
    "rejects with 'error', not the platform's exception, when the object fails: %s",
    async (message) => {
      // A namespace whose objects fail as the platform's do. The real object is not made to throw here:
      // the runtime would log the exception, and a green run prints nothing but its summary.
      const stub = { take: () => Promise.reject(new Error(message)) };
      const failing = { idFromName: (name: string) => name, get: () => stub } as unknown as DurableObjectNamespace<RateLimiter>;
      const limiter = new DurableObjectLimiter(failing, freshPrefix(), spec, CONTRACT_TIMEOUT_MS);
      await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "error", message });
    },
  );

  it("rejects with 'timeout' when the object does not answer in time; the take still lands afterwards", async () => {
    const prefix = freshPrefix();
    const namespace = env.RATE_LIMITER;
    if (namespace === undefined) throw new Error("RATE_LIMITER binding missing");
    // The object the limiter calls for "k" (durable-object.ts names it prefix:key). While it blocks
    // concurrency, a call to it queues, as behind an overloaded object: the take is made from inside
    // the block, so it is queued for certain, and the block ends when the take gives up.
    const stub = namespace.get(namespace.idFromName(`${prefix}:k`));
    const outcome = await runInDurableObject(stub, (_instance, state) =>
      state.blockConcurrencyWhile(() =>
        new DurableObjectLimiter(namespace, prefix, spec, 200).take("k", 1, false).catch((error: unknown) => error),
      ),
    );
    expect(outcome).toMatchObject({ name: "LimiterError", failure: "timeout" });
    // The wait ended, the call did not: once the object is free, the timed-out take has counted.
    const patient = new DurableObjectLimiter(namespace, prefix, spec, CONTRACT_TIMEOUT_MS);
    expect(await patient.take("k", 5, true)).toMatchObject({ granted: 4, remaining: 0 });
  });
});
