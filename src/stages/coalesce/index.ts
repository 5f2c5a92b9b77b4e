/**
 * Stage 7: request coalescing. On a route that opts in, identical GET and HEAD requests in flight
 * at once share one upstream call: the first (the leader) goes on down the chain, later ones (the
 * followers) wait for its outcome.
 *
 * Workers let no request read another's stream or Response, so the leader buffers an answer that
 * may be shared (up to the route's maxResponseBytes) into one Blob, and every waiter wraps that
 * Blob in a Response of its own. An answer that is too large or belongs to one caller (Set-Cookie,
 * private, no-store, Vary: * or on a per-request field) streams to the leader alone, its followers make their own calls, and
 * the key skips coalescing for passTtlMs. The leader's call runs under its waitUntil, so a leader
 * whose client goes away still finishes it for the others; a follower waits at most the route's
 * timeout. The stage sits before the breaker: a follower makes no upstream call, so it neither
 * holds an in-flight slot nor counts as an outcome, and a failing call counts once.
 *
 * Sharing is decided on the request the upstream saw, built as the proxy builds it: the claim headers
 * the gateway adds, the forwarding headers it replaces, the credentials and fields it strips. The
 * client's own headers decide nothing a forwarded request would not show.
 */
import type { Context, Next } from "hono";
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../../errors.ts";
import { bufferResponse } from "../../lib/buffer.ts";
import type { CompiledCoalesce } from "../../lib/coalesce/config.ts";
import type { Flight } from "../../lib/coalesce/flights.ts";
import { credentialDigest, credentialMaterial, requestKey } from "../../lib/coalesce/key.ts";
import type { CoalesceOutcome } from "../../lib/coalesce/outcome.ts";
import { answerShapingField, matchesVary, unshareableReason, type VaryValues, varyNames, varyValues } from "../../lib/coalesce/response.ts";
import type { HeaderPairs } from "../../lib/headers.ts";
import { count, countMax, observe } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";
import { upstreamHeadersFor } from "../../lib/upstream-headers.ts";
import type { CoalesceState } from "../../runtime/isolate-runtime.ts";
import type { AppEnv } from "../../variables.ts";

type CoalesceContext = Context<AppEnv>;

/** This request's headers as the upstream gets (or would get) them; built once, and only when asked for. */
type UpstreamView = () => Headers;

function upstreamView(c: CoalesceContext): UpstreamView {
  let headers: Headers | undefined;
  return () => {
    headers ??= upstreamHeadersFor(c.req.raw, {
      route: c.get("route"),
      authority: c.get("authority"),
      identityHeaders: c.get("identityHeaders"),
      policyEdits: c.get("policyEdits"),
      requestId: c.get("requestId"),
      traceparent: c.get("traceparent"),
      tracestate: c.get("tracestate"),
    });
    return headers;
  };
}

const NOTHING_VARIED: VaryValues = [];

function pathAndQuery(c: CoalesceContext): string {
  const url = c.req.url;
  const q = url.indexOf("?");
  return q === -1 ? c.get("normalizedPath") : c.get("normalizedPath") + url.slice(q);
}

async function coalesceKey(c: CoalesceContext, policy: CompiledCoalesce, upstream: UpstreamView): Promise<string> {
  // On a split route, callers on different sides must not share: the side is part of the key.
  const side = c.get("route").split === null ? "" : `${c.get("cluster").name}\u0000`;
  const varied = policy.varyHeaders.length === 0 ? NOTHING_VARIED : varyValues(policy.varyHeaders, upstream());
  const key = side + requestKey(c.req.method, c.get("host"), pathAndQuery(c), varied, c.get("identityHeaders"));
  if (policy.public) return key;
  const credential = credentialMaterial(c.req.raw.headers, policy.credentialHeaders);
  return credential === null ? key : `${key}\u0000${await credentialDigest(credential)}`;
}

/** A Response of this request's own around the shared answer. */
function sharedResponse(outcome: Extract<CoalesceOutcome, { kind: "shared" }>, requestId: string): Response {
  const headers: HeaderPairs = [...outcome.headers, ["x-request-id", requestId]];
  return new Response(outcome.body, { status: outcome.status, statusText: outcome.statusText, headers });
}

interface LeaderResult {
  outcome: CoalesceOutcome;
  /** How the call ended, for coalesce_calls_total. */
  label: keyof CompiledCoalesce["metrics"]["call"];
  /** A failure after the chain answered (the body broke off while buffering): the leader's own error too. */
  leaderError: GatewayError | null;
}

function markPass(policy: CompiledCoalesce, state: CoalesceState, key: string): void {
  if (policy.passTtlMs > 0) state.pass.set(key, true, Date.now() + policy.passTtlMs);
}

/** Sets the leader's response outright: Hono's setter would otherwise merge the old one's headers in. */
function replaceResponse(c: CoalesceContext, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/** Runs the rest of the chain for the leader and turns what came back into the followers' outcome. */
async function leaderCall(
  c: CoalesceContext,
  next: Next,
  policy: CompiledCoalesce,
  state: CoalesceState,
  key: string,
  upstream: UpstreamView,
): Promise<LeaderResult> {
  c.set("responseReadInWorker", true);
  c.set("wantsUpstreamHeaders", true);
  await next();
  const error = c.error;
  // The chain's errors were already answered by onError; followers get the same problem, their own id on it.
  if (error instanceof GatewayError) {
    return {
      outcome: { kind: "failed", code: error.code, detail: error.detail, headers: error.headers },
      label: "failed",
      leaderError: null,
    };
  }
  if (error !== undefined) return { outcome: { kind: "alone" }, label: "alone", leaderError: null };

  const response = c.res;
  const declared = response.headers.get("content-length");
  // Judged on the upstream's own headers: one it named in Connection is gone from the answer, but
  // still tells whether the answer may be shared.
  const said = c.get("upstreamHeaders") ?? response.headers;
  const unshareable = unshareableReason(response.status, said);
  if (unshareable !== null || (declared !== null && Number(declared) > policy.maxResponseBytes && c.req.method !== "HEAD")) {
    markPass(policy, state, key);
    return { outcome: { kind: "alone" }, label: unshareable !== null ? "unshareable" : "tooLarge", leaderError: null };
  }

  const headers: HeaderPairs = [];
  let body: Blob | null = null;
  if (c.req.method === "HEAD") {
    // A HEAD answer's Content-Length describes the GET body; there is no body of its own to share.
    await response.body?.cancel();
    for (const pair of response.headers) if (pair[0] !== "x-request-id") headers.push(pair);
  } else {
    let held = 0;
    const buffered = await bufferResponse(response, policy.maxResponseBytes, (bytes) => {
      held += bytes;
      count(policy.metrics.bufferedBytes, bytes);
      countMax(policy.metrics.bufferedBytesPeak, held);
    }).finally(() => count(policy.metrics.bufferedBytes, -held));
    if (buffered.kind === "failed") {
      const failure = new GatewayError("upstream-unavailable", "The upstream could not be reached.");
      const outcome: CoalesceOutcome = { kind: "failed", code: failure.code, detail: failure.detail, headers: failure.headers };
      return { outcome, label: "failed", leaderError: failure };
    }
    if (buffered.kind === "too-large") {
      markPass(policy, state, key);
      replaceResponse(c, buffered.response);
      return { outcome: { kind: "alone" }, label: "tooLarge", leaderError: null };
    }
    body = buffered.body;
    // Each Response built from the Blob sets its own length; the request id is each caller's own.
    for (const pair of response.headers) if (pair[0] !== "x-request-id" && pair[0] !== "content-length") headers.push(pair);
  }
  const outcome: CoalesceOutcome = {
    kind: "shared",
    status: response.status,
    statusText: response.statusText,
    headers,
    body,
    // What the leader's upstream request held for each field the answer varies on.
    vary: varyValues(varyNames(said.get("vary")), upstream()),
  };
  replaceResponse(c, sharedResponse(outcome, c.get("requestId")));
  return { outcome, label: "shared", leaderError: null };
}

async function lead(
  c: CoalesceContext,
  next: Next,
  policy: CompiledCoalesce,
  state: CoalesceState,
  key: string,
  flight: Flight<CoalesceOutcome>,
  upstream: UpstreamView,
) {
  count(policy.metrics.role.leader);
  // Stays as it is only if the chain itself threw: the followers then make their own calls.
  let result: LeaderResult = { outcome: { kind: "alone" }, label: "alone", leaderError: null };
  const call = leaderCall(c, next, policy, state, key, upstream)
    .then((done) => {
      result = done;
    })
    .finally(() => {
      const followers = state.flights.land(key, flight, result.outcome);
      count(policy.metrics.call[result.label]);
      observe(policy.metrics.followers, followers);
    });
  // The followers depend on this call: it must finish even if the leader's own client goes away.
  c.executionCtx.waitUntil(call.catch(() => {}));
  await call;
  if (result.leaderError !== null) throw result.leaderError;
}

async function follow(
  c: CoalesceContext,
  next: Next,
  policy: CompiledCoalesce,
  flight: Flight<CoalesceOutcome>,
  timeoutMs: number,
  upstream: UpstreamView,
) {
  count(policy.metrics.role.follower);
  let outcome: CoalesceOutcome;
  try {
    // The timer also keeps this request's own event pending, so the runtime does not take a wait
    // on another request's promise for a hang.
    outcome = await withTimeout(flight.promise, timeoutMs, () => new GatewayError("upstream-timeout"));
  } catch {
    count(policy.metrics.followerTimeouts);
    throw new GatewayError("upstream-timeout", "The upstream did not answer in time.");
  }
  if (outcome.kind === "failed") throw new GatewayError(outcome.code, outcome.detail, outcome.headers);
  if (outcome.kind === "alone") return next();
  if (outcome.vary.length > 0 && !matchesVary(outcome.vary, upstream())) {
    count(policy.metrics.varyMismatches);
    return next();
  }
  c.res = sharedResponse(outcome, c.get("requestId"));
}

export const coalesce = createMiddleware<AppEnv>(async function coalesce(c, next) {
  const route = c.get("route");
  const policy = route.coalesce;
  if (policy === null) return next();
  const record = c.get("record");
  const request = c.req.raw;
  // Writes always reach the upstream; a Range or a precondition makes the answer one client's own.
  if ((request.method !== "GET" && request.method !== "HEAD") || request.body !== null || answerShapingField(request.headers) !== null) {
    count(policy.metrics.role.bypass);
    record.coalesce = "bypass";
    return next();
  }
  const upstream = upstreamView(c);
  const key = await coalesceKey(c, policy, upstream);
  const state = c.get("routeRuntime").coalesce as CoalesceState;
  if (state.pass.get(key, Date.now()) !== undefined) {
    count(policy.metrics.role.pass);
    record.coalesce = "pass";
    return next();
  }
  const joined = state.flights.join(key);
  record.coalesce = joined.role;
  if (joined.role === "leader") return lead(c, next, policy, state, key, joined.flight, upstream);
  if (joined.role === "follower") return follow(c, next, policy, joined.flight, route.timeoutMs, upstream);
  count(policy.metrics.role.alone);
  return next();
});
