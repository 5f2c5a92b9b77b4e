/**
 * Response caching on routes with a `cache` block, in the Workers Cache API (caches.default: one
 * store per Cloudflare location, shared by the isolates there). A fresh copy is served with one
 * cache lookup and no upstream call; a stale one within staleWhileRevalidateSec is served while
 * one background call (waitUntil) refreshes it; within staleIfErrorSec it is served when the
 * upstream fails or no target is healthy. Misses for one key merge into one upstream call per
 * isolate (the flight table of coalescing), whether or not the route also coalesces: the first
 * caller leads, later ones wait for its answer, and the answer is stored once.
 *
 * The key is the coalescing key (method, host, normalized path and query, the declared varying
 * headers as the upstream gets them, claim headers, the credential unless the route is public),
 * hashed, under the route's key space (its id and a digest of its cache settings). Every answer
 * carries a Cache-Status member (RFC 9211), and a served copy its Age (RFC 9111 section 5.1).
 *
 * The stage sits after idempotency and before coalescing, the breaker and the proxy, which it
 * runs for misses and refreshes (`upstream`: those stages as one chain, for a refresh that runs
 * after its request has been answered).
 */
import { Context, type Next } from "hono";
import { createMiddleware } from "hono/factory";
import type { CompiledRoute } from "../../config/compile.ts";
import { gatewaySettings } from "../../env.ts";
import { GatewayError, type ProblemCode } from "../../errors.ts";
import { bufferResponse } from "../../lib/buffer.ts";
import type { CompiledCache } from "../../lib/cache/config.ts";
import type { CopyMemory, KeptCopy } from "../../lib/cache/memory.ts";
import {
  ageSec,
  cacheStatus,
  cacheTags,
  decodeEntryRecord,
  ENTRY_RECORD_HEADER,
  type EntryRecord,
  encodeEntryRecord,
  freshness,
  storagePlan,
} from "../../lib/cache/policy.ts";
import { type PurgeRule, purges } from "../../lib/cache/purge.ts";
import type { Flight } from "../../lib/coalesce/flights.ts";
import { credentialMaterial, requestKey } from "../../lib/coalesce/key.ts";
import type { CoalesceOutcome } from "../../lib/coalesce/outcome.ts";
import { answerShapingField, type VaryValues, varyValues } from "../../lib/coalesce/response.ts";
import { sha256Hex } from "../../lib/digest.ts";
import type { HeaderPairs } from "../../lib/headers.ts";
import { count } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";
import { upstreamHeadersFor } from "../../lib/upstream-headers.ts";
import type { CacheState } from "../../runtime/isolate-runtime.ts";
import type { AppEnv } from "../../variables.ts";
import type { StageChain } from "../chain.ts";

type CacheContext = Context<AppEnv>;
type Shared = Extract<CoalesceOutcome, { kind: "shared" }>;

/**
 * The gateway's own failures that stand for the upstream (unreachable, timed out, broken, or no
 * healthy target): a stale copy within staleIfErrorSec is served instead of them.
 */
const UPSTREAM_FAILURES: ReadonlySet<ProblemCode> = new Set([
  "upstream-unavailable",
  "upstream-invalid-response",
  "upstream-timeout",
  "no-healthy-upstream",
  "upstream-overloaded",
]);

const NOTHING_VARIED: VaryValues = [];
// U+0000 cannot occur in a URL or an accepted header value: the parts cannot run together.
const SEPARATOR = "\u0000";

/** A copy found in the cache, with its record. */
interface Copy {
  response: Response;
  record: EntryRecord;
}

function pathAndQuery(c: CacheContext): string {
  const url = c.req.url;
  const q = url.indexOf("?");
  return q === -1 ? c.get("normalizedPath") : c.get("normalizedPath") + url.slice(q);
}

function upstreamHeaders(c: CacheContext): Headers {
  return upstreamHeadersFor(c.req.raw, {
    route: c.get("route"),
    authority: c.get("authority"),
    identityHeaders: c.get("identityHeaders"),
    policyEdits: c.get("policyEdits"),
    requestId: c.get("requestId"),
    traceparent: c.get("traceparent"),
    tracestate: c.get("tracestate"),
  });
}

/**
 * The Cache API key of this request: a URL under the route's key space, named by a SHA-256 of the
 * coalescing key and (unless the route is public) the caller's credential, so a credential never
 * sits in the cache in the clear. A HEAD is keyed as the GET it would be served from.
 */
async function cacheKey(c: CacheContext, policy: CompiledCache): Promise<string> {
  // On a split route, callers on different sides must not share: the side is part of the key.
  const side = c.get("route").split === null ? "" : `${c.get("cluster").name}${SEPARATOR}`;
  const varied = policy.varyHeaders.length === 0 ? NOTHING_VARIED : varyValues(policy.varyHeaders, upstreamHeaders(c));
  let key = side + requestKey("GET", c.get("host"), pathAndQuery(c), varied, c.get("identityHeaders"));
  if (!policy.public) key += SEPARATOR + (credentialMaterial(c.req.raw.headers, policy.credentialHeaders) ?? "");
  return `https://${c.get("host")}/__edgegate-cache/${policy.keySpace}/${await sha256Hex(key)}`;
}

/** The purge rules in force; the first request of an isolate waits for them, later ones read memory. */
async function purgeRules(c: CacheContext, state: CacheState): Promise<readonly PurgeRule[] | null> {
  const refreshMs = gatewaySettings(c.env).configRefreshIntervalMs;
  const waitUntil = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
  const rules = state.purges.current(c.env.CONFIG, refreshMs, waitUntil);
  if (rules !== null) return rules;
  await state.purges.read(c.env.CONFIG);
  return state.purges.current(c.env.CONFIG, refreshMs, waitUntil);
}

/** A Response of its own around a copy the isolate holds. */
function keptResponse(kept: KeptCopy): Response {
  return new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers: kept.headers });
}

/**
 * The stored copy for `key`, unless none is there, it is unreadable, or a purge dropped it: from
 * the isolate's memory when it holds it, else from the location's cache.
 */
async function lookUp(key: string, routeId: string, rules: readonly PurgeRule[], memory: CopyMemory, now: number): Promise<Copy | null> {
  const kept = memory.get(key, now);
  let response: Response | undefined;
  if (kept !== undefined) response = keptResponse(kept);
  else {
    try {
      response = await caches.default.match(key);
    } catch {
      return null;
    }
    if (response === undefined) return null;
  }
  const record = decodeEntryRecord(response.headers.get(ENTRY_RECORD_HEADER));
  if (record === null || rules.some((rule) => purges(rule, { routeId, path: record.path, tags: record.tags, storedAt: record.storedAt }))) {
    if (kept !== undefined) memory.delete(key);
    discard(response);
    return null;
  }
  return { response, record };
}

/** Adds this cache's Cache-Status member to an answer (after any the upstream's caches added: RFC 9211 section 2). */
function markStatus(response: Response, member: string): void {
  try {
    response.headers.append("cache-status", member);
  } catch {
    // Every answer the stages build has mutable headers; should one not, it goes out unmarked.
  }
}

/** A stored copy as this request's answer: the upstream's own headers, its Age, and the request's id. */
function servedCopy(c: CacheContext, copy: Copy, now: number, member: string): Response {
  const { response, record } = copy;
  const headers = new Headers(response.headers);
  headers.delete(ENTRY_RECORD_HEADER);
  headers.delete("cache-control");
  if (record.cacheControl !== null) headers.set("cache-control", record.cacheControl);
  if (record.vary !== null) headers.set("vary", record.vary);
  headers.set("age", String(ageSec(record, now)));
  headers.set("x-request-id", c.get("requestId"));
  headers.append("cache-status", member);
  const body = c.req.method === "HEAD" ? null : response.body;
  if (body === null) discard(response);
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/** Whether a copy may stand in for a failed upstream call at `now`. */
function servableOnError(copy: Copy | null, now: number): copy is Copy {
  return copy !== null && ageSec(copy.record, now) < copy.record.ttlSec + copy.record.sieSec;
}

function staleOnError(c: CacheContext, policy: CompiledCache, copy: Copy, now: number, failedStatus: number): Response {
  count(policy.metrics.result.staleIfError);
  const ttl = copy.record.ttlSec - ageSec(copy.record, now);
  return servedCopy(c, copy, now, cacheStatus(["fwd=stale", `fwd-status=${failedStatus}`, `ttl=${ttl}`, "detail=stale-if-error"]));
}

/** Lets go of a body that will not be read (it may already be locked by a reader that stopped). */
function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}

/** Sets the answer outright: Hono's setter would otherwise merge the old one's headers in. */
function replaceResponse(c: CacheContext, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/** The status a failure was answered with, for Cache-Status's fwd-status. */
function failedStatus(c: CacheContext): number | null {
  const error = c.error;
  if (error instanceof GatewayError) return UPSTREAM_FAILURES.has(error.code) ? c.res.status : null;
  if (error !== undefined) return null;
  return c.res.status >= 500 ? c.res.status : null;
}

/** Runs the rest of the chain for this request alone, and falls back to a stale copy if the upstream fails. */
async function forward(c: CacheContext, next: Next, policy: CompiledCache, copy: Copy | null, member: string): Promise<void> {
  await next();
  const failed = failedStatus(c);
  const now = Date.now();
  if (failed !== null && servableOnError(copy, now)) {
    discard(c.res);
    c.error = undefined;
    replaceResponse(c, staleOnError(c, policy, copy, now, failed));
    return;
  }
  if (copy !== null) discard(copy.response);
  markStatus(c.res, member);
}

/** What one upstream call for a missing (or stale) copy came to. */
interface Filled {
  outcome: CoalesceOutcome;
  /** Cache-Status parameters for the caller that made it. */
  params: string[];
  /** A failure after the chain answered (the body broke off while it was read). */
  error: GatewayError | null;
}

/**
 * Judges the answer the chain left on `ctx` (after its upstream call, started at `startedAt`),
 * stores it when it may be, and says what the callers waiting on it get.
 */
async function fill(
  ctx: CacheContext,
  policy: CompiledCache,
  memory: CopyMemory,
  key: string,
  startedAt: number,
  path: string,
): Promise<Filled> {
  const error = ctx.error;
  if (error instanceof GatewayError) {
    return {
      outcome: { kind: "failed", code: error.code, detail: error.detail, headers: error.headers },
      params: ["fwd=miss"],
      error: null,
    };
  }
  if (error !== undefined) return { outcome: { kind: "alone" }, params: ["fwd=miss"], error: null };
  const response = ctx.res;
  const said = ctx.get("upstreamHeaders") ?? response.headers;
  const plan = storagePlan(response.status, said, policy);
  // An upstream error is shared with the waiters (each may fall back to a stale copy of its own), never stored.
  const shareOnly = response.status >= 500;
  const declared = response.headers.get("content-length");
  if (!shareOnly && (!plan.store || (declared !== null && Number(declared) > policy.maxBodyBytes))) {
    count(policy.metrics.notStored);
    return { outcome: { kind: "alone" }, params: ["fwd=miss", `detail=${plan.store ? "too-large" : plan.reason}`], error: null };
  }
  const buffered = await bufferResponse(response, policy.maxBodyBytes, () => {});
  if (buffered.kind === "failed") {
    const failure = new GatewayError("upstream-unavailable", "The upstream could not be reached.");
    return { outcome: { kind: "failed", code: failure.code, detail: failure.detail, headers: {} }, params: ["fwd=miss"], error: failure };
  }
  if (buffered.kind === "too-large") {
    count(policy.metrics.notStored);
    replaceResponse(ctx, buffered.response);
    return { outcome: { kind: "alone" }, params: ["fwd=miss", "detail=too-large"], error: null };
  }
  const headers: HeaderPairs = [];
  // Each Response built from the Blob sets its own length; the request id is each caller's own.
  for (const pair of response.headers) if (pair[0] !== "x-request-id" && pair[0] !== "content-length") headers.push(pair);
  const outcome: Shared = {
    kind: "shared",
    status: response.status,
    statusText: response.statusText,
    headers,
    body: buffered.body,
    vary: NOTHING_VARIED,
  };
  if (!plan.store) return { outcome, params: ["fwd=miss", `detail=${plan.reason}`], error: null };
  const record: EntryRecord = {
    storedAt: startedAt,
    ...plan.lifetimes,
    path,
    tags: cacheTags(said.get("cache-tag")),
    cacheControl: response.headers.get("cache-control"),
    vary: response.headers.get("vary"),
  };
  const stored = storedCopy(outcome, record);
  // The isolate keeps it too, for as long as the location's cache may: its next hit costs no lookup.
  memory.set(key, stored, startedAt + (record.ttlSec + Math.max(record.swrSec, record.sieSec)) * 1000);
  ctx.executionCtx.waitUntil(
    caches.default.put(key, keptResponse(stored)).then(
      () => count(policy.metrics.stored),
      () => count(policy.metrics.notStored),
    ),
  );
  return { outcome, params: ["fwd=miss", "stored"], error: null };
}

/**
 * The copy handed to the Cache API: the upstream's headers with the cache's own Cache-Control (the
 * copy's whole lifetime, so the location drops it then) and without its Vary (the key already
 * holds what the answer varies on); both kept in the record and given back to clients.
 */
function storedCopy(outcome: Shared, record: EntryRecord): KeptCopy {
  const headers: HeaderPairs = [];
  for (const pair of outcome.headers) {
    const name = pair[0];
    if (name !== "cache-control" && name !== "vary" && name !== "age" && name !== "cache-status" && name !== ENTRY_RECORD_HEADER)
      headers.push(pair);
  }
  headers.push(["cache-control", `public, max-age=${record.ttlSec + Math.max(record.swrSec, record.sieSec)}`]);
  headers.push([ENTRY_RECORD_HEADER, encodeEntryRecord(record)]);
  return { status: outcome.status, statusText: outcome.statusText, headers, body: outcome.body };
}

/** A Response of this request's own around the shared answer. */
function sharedResponse(c: CacheContext, outcome: Shared, member: string): Response {
  const headers = new Headers(outcome.headers);
  headers.set("x-request-id", c.get("requestId"));
  headers.append("cache-status", member);
  const body = c.req.method === "HEAD" ? null : outcome.body;
  return new Response(body, { status: outcome.status, statusText: outcome.statusText, headers });
}

/** Leads the call for a missing copy: the rest of the chain, then the answer stored and handed to the waiters. */
async function lead(
  c: CacheContext,
  next: Next,
  policy: CompiledCache,
  state: CacheState,
  key: string,
  copy: Copy | null,
  flight: Flight<CoalesceOutcome>,
) {
  count(policy.metrics.result.miss);
  let result: Filled = { outcome: { kind: "alone" }, params: ["fwd=miss"], error: null };
  const call = (async () => {
    const startedAt = Date.now();
    c.set("responseReadInWorker", true);
    c.set("wantsUpstreamHeaders", true);
    await next();
    result = await fill(c, policy, state.memory, key, startedAt, pathAndQuery(c));
  })().finally(() => state.flights.land(key, flight, result.outcome));
  // The waiters depend on this call: it must finish even if the leader's own client goes away.
  c.executionCtx.waitUntil(call.catch(() => {}));
  await call;
  const now = Date.now();
  const failed = failedStatus(c);
  if (failed !== null && servableOnError(copy, now)) {
    discard(c.res);
    c.error = undefined;
    replaceResponse(c, staleOnError(c, policy, copy, now, failed));
    return;
  }
  if (copy !== null) discard(copy.response);
  if (result.error !== null) throw result.error;
  if (result.outcome.kind === "shared") replaceResponse(c, sharedResponse(c, result.outcome, cacheStatus(result.params)));
  else markStatus(c.res, cacheStatus(result.params));
}

/** Waits for the call another request leads for the same key, and takes its answer. */
async function follow(c: CacheContext, next: Next, policy: CompiledCache, flight: Promise<CoalesceOutcome>, copy: Copy | null) {
  count(policy.metrics.result.collapsed);
  let outcome: CoalesceOutcome;
  try {
    outcome = await withTimeout(flight, c.get("route").timeoutMs, () => new GatewayError("upstream-timeout"));
  } catch {
    outcome = { kind: "failed", code: "upstream-timeout", detail: "The upstream did not answer in time.", headers: {} };
  }
  if (outcome.kind === "alone") return forward(c, next, policy, copy, cacheStatus(["fwd=miss"]));
  const now = Date.now();
  const failed = outcome.kind === "failed" ? 502 : outcome.status >= 500 ? outcome.status : null;
  if (failed !== null && servableOnError(copy, now)) {
    c.res = staleOnError(c, policy, copy, now, failed);
    return;
  }
  if (copy !== null) discard(copy.response);
  if (outcome.kind === "failed") throw new GatewayError(outcome.code, outcome.detail, outcome.headers);
  c.res = sharedResponse(c, outcome, cacheStatus(["fwd=miss", "collapsed"]));
}

/**
 * Refreshes a stale copy after its request has been answered: the upstream stages run on a
 * context of their own (a copy of this request's values around a fresh Request, so nothing of the
 * answered request, its signal included, is touched), one refresh per key at a time.
 */
function refreshLater(c: CacheContext, upstream: StageChain, policy: CompiledCache, state: CacheState, key: string): void {
  const flight = state.flights.join(key);
  if (flight.role !== "leader") return;
  const raw = c.req.raw;
  const ctx = new Context<AppEnv>(new Request(raw.url, { method: "GET", headers: raw.headers }), {
    env: c.env,
    executionCtx: c.executionCtx,
  });
  for (const [name, value] of Object.entries(c.var)) ctx.set(name as keyof AppEnv["Variables"], value as never);
  ctx.set("record", { ...c.get("record") });
  ctx.set("responseReadInWorker", true);
  ctx.set("wantsUpstreamHeaders", true);
  let outcome: CoalesceOutcome = { kind: "alone" };
  const path = pathAndQuery(c);
  const work = (async () => {
    const startedAt = Date.now();
    await upstream(ctx, async () => {});
    const filled = await fill(ctx, policy, state.memory, key, startedAt, path);
    outcome = filled.outcome;
    if (filled.outcome.kind !== "shared") await ctx.res.body?.cancel();
  })()
    .catch(() => {})
    .finally(() => state.flights.land(key, flight.flight, outcome));
  c.executionCtx.waitUntil(work);
}

/** The stage, around `upstream` (the stages after it, as one chain, for background refreshes). */
export function cache(upstream: (route: CompiledRoute) => StageChain) {
  return createMiddleware<AppEnv>(async function cache(c, next) {
    const policy = c.get("route").cache;
    if (policy === null) return next();
    const request = c.req.raw;
    // Writes always reach the upstream; a Range or a precondition makes the answer one client's own.
    if (request.method !== "GET" && request.method !== "HEAD") {
      count(policy.metrics.result.bypass);
      await next();
      return markStatus(c.res, cacheStatus(["fwd=method"]));
    }
    if (request.body !== null || answerShapingField(request.headers) !== null) {
      count(policy.metrics.result.bypass);
      await next();
      return markStatus(c.res, cacheStatus(["fwd=request"]));
    }
    const state = c.get("routeRuntime").cache as CacheState;
    const [key, rules] = await Promise.all([cacheKey(c, policy), purgeRules(c, state)]);
    // Without the purge rules, no stored copy can be trusted: the upstream answers.
    const copy = rules === null ? null : await lookUp(key, c.get("route").id, rules, state.memory, Date.now());
    const now = Date.now();
    const use = copy === null ? "expired" : freshness(copy.record, now);
    if (copy !== null && (use === "fresh" || use === "stale-while-revalidate")) {
      const ttl = copy.record.ttlSec - ageSec(copy.record, now);
      if (use === "fresh") {
        count(policy.metrics.result.hit);
        c.res = servedCopy(c, copy, now, cacheStatus(["hit", `ttl=${ttl}`]));
        return;
      }
      count(policy.metrics.result.stale);
      refreshLater(c, upstream(c.get("route")), policy, state, key);
      c.res = servedCopy(c, copy, now, cacheStatus(["hit", `ttl=${ttl}`, "detail=stale-while-revalidate"]));
      return;
    }
    // A HEAD is answered from a stored GET, never stored itself: it has no body to store.
    if (request.method === "HEAD") {
      count(policy.metrics.result.miss);
      return forward(c, next, policy, copy, cacheStatus(["fwd=miss"]));
    }
    const joined = state.flights.join(key);
    if (joined.role === "leader") return lead(c, next, policy, state, key, copy, joined.flight);
    if (joined.role === "follower") return follow(c, next, policy, joined.flight.promise, copy);
    count(policy.metrics.result.miss);
    return forward(c, next, policy, copy, cacheStatus(["fwd=miss"]));
  });
}
