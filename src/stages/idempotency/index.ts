/**
 * Stage 6: Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) on POST and PATCH for
 * routes that opt in. The first request with a key is forwarded and its answer stored (up to
 * maxResponseBytes, for ttlSec); a duplicate while it runs gets 409; a later duplicate gets the
 * stored answer replayed (`Idempotent-Replayed: true`); the key with a different request gets 422.
 * A key belongs to its caller (JWT subject or API-key consumer, else the client address) and its
 * route. The request body is read in full to fingerprint it, so it is bounded (413 past the limit).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../../errors.ts";
import { bufferResponse, bufferUpTo } from "../../lib/buffer.ts";
import { sha256Hex } from "../../lib/digest.ts";
import type { HeaderPairs } from "../../lib/headers.ts";
import type { CompiledIdempotency } from "../../lib/idempotency/config.ts";
import { type Begin, parseIdempotencyKey, type StoredAnswer } from "../../lib/idempotency/record.ts";
import { count } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";
import type { AppEnv } from "../../variables.ts";

/** An answer to a request with a key is not kept past this: a slow object must not hold the client. */
const OBJECT_TIMEOUT_MS = 2_000;

const encoder = new TextEncoder();

async function readBody(c: Context<AppEnv>, limit: number): Promise<Uint8Array> {
  const request = c.req.raw;
  const declared = request.headers.get("content-length");
  const tooLarge = () => new GatewayError("payload-too-large", `A request with an Idempotency-Key may carry at most ${limit} bytes.`);
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);
  const buffered = await bufferUpTo(request.body, limit, () => {});
  if (buffered.kind === "too-large") {
    await buffered.body.cancel();
    throw tooLarge();
  }
  if (buffered.kind === "failed")
    throw new GatewayError("incomplete-body", "The request body ended before it was complete, or its framing was malformed.");
  return new Uint8Array(await buffered.body.arrayBuffer());
}

/** SHA-256 over method, path and query, and body: what makes two requests "the same". */
async function fingerprint(method: string, target: string, body: Uint8Array): Promise<string> {
  const head = encoder.encode(`${method}\u0000${target}\u0000`);
  const all = new Uint8Array(head.byteLength + body.byteLength);
  all.set(head);
  all.set(body, head.byteLength);
  return sha256Hex(all);
}

function scopeOf(c: Context<AppEnv>): string {
  const identity = c.get("identity");
  if (identity?.consumer) return `consumer:${identity.consumer}`;
  if (identity?.subject) return `subject:${identity.subject}`;
  return `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
}

function replayed(answer: StoredAnswer, requestId: string): Response {
  const headers: HeaderPairs = [...answer.headers, ["idempotent-replayed", "true"], ["x-request-id", requestId]];
  return new Response(answer.status === 204 || answer.status === 304 ? null : answer.body, {
    status: answer.status,
    statusText: answer.statusText,
    headers,
  });
}

/** The answer to keep for duplicates, or null when it must not be kept (the key is then released). */
async function keepable(c: Context<AppEnv>, policy: CompiledIdempotency): Promise<StoredAnswer | null> {
  const response = c.res;
  // A 5xx or the gateway's own error may be gone on a retry: the key is released for it.
  if (c.error !== undefined || response.status >= 500) return null;
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) > policy.maxResponseBytes) return null;
  const buffered = await bufferResponse(response, policy.maxResponseBytes, () => {});
  if (buffered.kind === "too-large") {
    c.res = undefined;
    c.res = buffered.response;
    return null;
  }
  if (buffered.kind === "failed") throw new GatewayError("upstream-unavailable", "The upstream could not be reached.");
  const body = buffered.body === null ? new ArrayBuffer(0) : await buffered.body.arrayBuffer();
  const headers: HeaderPairs = [];
  for (const pair of response.headers) if (pair[0] !== "x-request-id" && pair[0] !== "content-length") headers.push(pair);
  const answer: StoredAnswer = { status: response.status, statusText: response.statusText, headers, body };
  c.res = undefined;
  c.res = new Response(body, {
    status: answer.status,
    statusText: answer.statusText,
    headers: [...headers, ["x-request-id", c.get("requestId")]],
  });
  return answer;
}

export const idempotency = createMiddleware<AppEnv>(async function idempotency(c, next) {
  const route = c.get("route");
  const policy = route.idempotency;
  const method = c.req.method;
  if (policy === null || (method !== "POST" && method !== "PATCH")) return next();
  const field = c.req.header("idempotency-key");
  if (field === undefined) {
    if (policy.required) throw new GatewayError("bad-request", "This route requires an Idempotency-Key header on POST and PATCH.");
    return next();
  }
  const key = parseIdempotencyKey(field);
  if (key === null) throw new GatewayError("bad-request", "The Idempotency-Key must be 1-255 visible ASCII characters.");
  const namespace = c.env.IDEMPOTENCY;
  if (namespace === undefined) throw new GatewayError("idempotency-unavailable", "The IDEMPOTENCY Durable Object binding is missing.");

  const limit = route.maxBodyBytes === null ? policy.maxRequestBytes : Math.min(policy.maxRequestBytes, route.maxBodyBytes);
  const body = await readBody(c, limit);
  const url = c.req.url;
  const query = url.indexOf("?") === -1 ? "" : url.slice(url.indexOf("?"));
  const print = await fingerprint(method, c.get("normalizedPath") + query, body);
  const stub = namespace.get(namespace.idFromName(`${route.id}\u0000${scopeOf(c)}\u0000${key}`));
  const unavailable = () =>
    new GatewayError("idempotency-unavailable", "Idempotency keys cannot be checked right now.", { "retry-after": "1" });

  let outcome: Begin;
  try {
    // The lease outlasts the route's deadline: a key is never freed while its request may still be answered.
    // RPC types a union result as a union of promises; it resolves to one Begin.
    const pending = stub.begin(print, route.timeoutMs + 5_000, policy.ttlMs) as unknown as Promise<Begin>;
    outcome = await withTimeout(pending, OBJECT_TIMEOUT_MS, unavailable);
  } catch {
    throw unavailable();
  }
  c.get("record").idempotency = outcome.kind === "in-progress" ? "conflict" : outcome.kind === "replay" ? "replayed" : outcome.kind;
  if (outcome.kind === "in-progress") {
    count(policy.metrics.conflict);
    throw new GatewayError("idempotency-conflict", "The first request with this key has not finished; retry later.", {
      "retry-after": "1",
    });
  }
  if (outcome.kind === "mismatch") {
    count(policy.metrics.mismatch);
    throw new GatewayError("idempotency-key-reused", "This Idempotency-Key was used with a different request.");
  }
  if (outcome.kind === "replay") {
    count(policy.metrics.replayed);
    c.res = replayed(outcome.answer, c.get("requestId"));
    return;
  }

  count(policy.metrics.first);
  c.set("bufferedBody", body);
  // The answer is read here to keep it for duplicates: the proxy must let its body finish.
  c.set("responseReadInWorker", true);
  await next();
  let answer: StoredAnswer | null = null;
  try {
    answer = await keepable(c, policy);
  } finally {
    if (answer === null) count(policy.metrics.released);
    c.executionCtx.waitUntil(stub.complete(print, answer, policy.ttlMs).catch(() => {}));
  }
});
