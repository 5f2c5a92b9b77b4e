/**
 * Stage 5: the route's rate limits, consulted in order; a request refused by an enforced policy
 * gets 429 and never reaches the upstream.
 * Shadow policies only count and log. Responses carry RateLimit-Policy and RateLimit
 * (draft-ietf-httpapi-ratelimit-headers) for the enforced policies, refused or not.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../../errors.ts";
import { log } from "../../lib/log.ts";
import { count } from "../../lib/metrics.ts";
import type { CompiledRateLimit } from "../../lib/rate-limit/config.ts";
import type { Decision } from "../../lib/rate-limit/decision.ts";
import { rateLimitItem, retryAfterSeconds } from "../../lib/rate-limit/fields.ts";
import { rateLimitKey } from "../../lib/rate-limit/key.ts";
import type { LimiterCell } from "../../runtime/isolate-runtime.ts";
import type { AppEnv } from "../../variables.ts";

/** One log line per policy and event kind per this many ms: a limit under attack must not flood the logs. */
const LOG_INTERVAL_MS = 10_000;
const lastLogged = new Map<string, { at: number; suppressed: number }>();

/** `event` is built only when a line is written: a refusal flood allocates nothing for its logs. */
function logThrottled(metric: string, now: number, event: () => { event: string; [field: string]: unknown }): void {
  const entry = lastLogged.get(metric);
  if (entry !== undefined && now - entry.at < LOG_INTERVAL_MS) {
    entry.suppressed++;
    return;
  }
  log({ level: "warn", ...event(), suppressedSinceLast: entry?.suppressed ?? 0 });
  lastLogged.set(metric, { at: now, suppressed: 0 });
}

function decide(cell: LimiterCell, key: string | Promise<string>, c: Context<AppEnv>): Decision | Promise<Decision> {
  const background = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
  const limiter = cell.bind(c.env);
  if (typeof key === "string") return limiter.check(key, background);
  return key.then((k) => limiter.check(k, background));
}

export const rateLimit = createMiddleware<AppEnv>(async function rateLimit(c, next) {
  const route = c.get("route");
  const policies = route.rateLimits;
  if (policies.length === 0) return next();

  const headers = c.req.raw.headers;
  const identity = c.get("identity");
  const record = c.get("record");
  record.rateLimit = "allowed";
  const items: string[] = [];
  let refusal: { policy: CompiledRateLimit; retryAt: number } | null = null;
  let unavailable: CompiledRateLimit | null = null;
  // In order, stopping at the first refusal: a request the per-second burst refuses does not eat
  // into the daily quota after it. Local-first policies answer synchronously in the steady state.
  const limiters = c.get("routeRuntime").limiters;
  for (let i = 0; i < policies.length; i++) {
    const policy = policies[i] as CompiledRateLimit;
    const pending = decide(limiters[i] as LimiterCell, rateLimitKey(policy.keyParts, headers, identity), c);
    const decision = pending instanceof Promise ? await pending : pending;
    const now = Date.now();
    if (decision.kind === "allowed") {
      count(policy.metrics.allowed);
      if (!policy.shadow) items.push(rateLimitItem(policy.id, decision.remaining, decision.resetAt, now));
    } else if (decision.kind === "denied") {
      if (policy.shadow) {
        record.rateLimit = "shadow-denied";
        count(policy.metrics.shadowDenied);
        logThrottled(policy.metrics.shadowDenied, now, () => ({
          event: "rate_limit.shadow_denied",
          route: route.id,
          policy: policy.id,
          requestId: c.get("requestId"),
        }));
        continue;
      }
      count(policy.metrics.denied);
      record.rateLimit = "denied";
      items.push(rateLimitItem(policy.id, 0, decision.resetAt, now));
      refusal = { policy, retryAt: decision.retryAt };
      break;
    } else {
      const closed = policy.onFailure === "closed" && !policy.shadow;
      const metric = closed ? policy.metrics.failClosed : policy.metrics.failOpen;
      count(metric);
      record.rateLimit = closed ? "fail-closed" : "fail-open";
      logThrottled(metric, now, () => ({
        event: closed ? "rate_limit.fail_closed" : "rate_limit.fail_open",
        route: route.id,
        policy: policy.id,
        requestId: c.get("requestId"),
        failure: decision.failure,
        detail: decision.detail?.slice(0, 300),
      }));
      if (closed) {
        unavailable = policy;
        break;
      }
    }
  }

  const fields: Record<string, string> = {};
  if (route.rateLimitPolicyField !== null) fields["ratelimit-policy"] = route.rateLimitPolicyField;
  if (items.length > 0) fields.ratelimit = items.join(", ");

  if (unavailable !== null) {
    throw new GatewayError("rate-limit-unavailable", "Rate limits cannot be checked right now.", { ...fields, "retry-after": "1" });
  }
  if (refusal !== null) {
    throw new GatewayError("rate-limited", `The rate limit '${refusal.policy.id}' of this route is exhausted.`, {
      ...fields,
      "retry-after": String(retryAfterSeconds(refusal.retryAt, Date.now())),
    });
  }

  await next();
  // Set after the fact so errors from later stages (502, 504) carry them too; every response the
  // gateway builds has mutable headers.
  const responseHeaders = c.res.headers;
  for (const [name, value] of Object.entries(fields)) responseHeaders.set(name, value);
});
