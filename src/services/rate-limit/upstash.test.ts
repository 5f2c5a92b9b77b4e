import { env } from "cloudflare:workers";
import { afterEach, describe, expect, inject, it } from "vitest";
import { redis } from "../../../test/rate-limit-support.ts";
import { counterSnapshot, metricKey } from "../../lib/metrics.ts";
import type { LimitSpec } from "../../lib/rate-limit/algorithms.ts";
import { runLimiterBackendContract } from "./backend.case.ts";
import type { LimiterBackend } from "./backend.ts";
import { type UpstashCredentials, UpstashLimiter } from "./upstash.ts";

const credentials = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };

/**
 * Generous, so a loaded machine never turns a contract case into a failure. The failure cases use
 * other timeouts: upstash.ts keeps one client, and one cooldown, per URL, token and timeout.
 */
const CONTRACT_TIMEOUT_MS = 10_000;

runLimiterBackendContract("upstash", (spec, prefix) => new UpstashLimiter(credentials, prefix, spec, CONTRACT_TIMEOUT_MS), {
  grantsInPart: true,
  sharedAcrossInstances: true,
});

describe("upstash backend failures", () => {
  const spec: LimitSpec = { algorithm: "fixed-window", limit: 5, windowMs: 3_600_000, refill: 5 };
  /** A backend on a fresh prefix, used through the interface the gateway uses. */
  const backend = (given: UpstashCredentials, timeoutMs: number): LimiterBackend =>
    new UpstashLimiter(given, `failure:${crypto.randomUUID()}`, spec, timeoutMs);
  const calls = metricKey("rate_limit_backend_calls_total", { backend: "upstash" });
  const callsMade = () => counterSnapshot()[calls] ?? 0;

  // Whatever a case did to Redis, the next case (and file) finds it running.
  afterEach(async () => {
    await redis("start");
  });

  it.each([
    ["neither URL nor token", { url: undefined, token: undefined }],
    ["no URL", { url: undefined, token: credentials.token }],
    ["no token", { url: credentials.url, token: undefined }],
    ["an empty token", { url: credentials.url, token: "" }],
  ])("rejects with 'unconfigured' given %s, without a call", async (_, given) => {
    const before = callsMade();
    const limiter = backend(given, 1_000);
    await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "unconfigured" });
    expect(callsMade()).toBe(before);
  });

  it("rejects with 'error' when Upstash refuses the token", async () => {
    const limiter = backend({ url: credentials.url, token: "not-the-token" }, 1_000);
    await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "error" });
  });

  it("rejects with 'timeout' when Upstash does not answer within the policy's timeout", async () => {
    // An endpoint of the test origin that never answers stands in for an unreachable Upstash.
    const silent = `http://127.0.0.1:${inject("originPort")}/coalesce?fail=hang`;
    const limiter = backend({ url: silent, token: "t" }, 200);
    await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "timeout" });
  });

  it("rejects with 'timeout' while Redis is down, then 'error' without a call for a second, and grants again once Redis is back", async () => {
    const limiter = backend(credentials, 300);
    expect(await limiter.take("k", 1, false)).toMatchObject({ granted: 1, remaining: 4 });

    await redis("stop");
    // The REST server holds commands while its Redis is away: no answer, so a timeout.
    await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "timeout" });
    // The cooldown: refused at once, without a call.
    const before = callsMade();
    await expect(limiter.take("k", 1, false)).rejects.toMatchObject({ name: "LimiterError", failure: "error" });
    expect(callsMade()).toBe(before);

    await redis("start");
    // The REST server's client reconnects with backoff; past each cooldown, ask again. Another key:
    // the timed-out command may yet reach the new Redis and count against "k".
    let grant: unknown = null;
    for (let i = 0; i < 20 && grant === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      grant = await limiter.take("after", 1, false).catch(() => null);
    }
    expect(grant).toMatchObject({ granted: 1, remaining: 4 });
  }, 30_000);
});
