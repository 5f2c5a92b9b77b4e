import { env } from "cloudflare:workers";
import type { Context } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { BackgroundWork, installRoute, laterStages, recordingStageApp, send, targetVars } from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import type { Identity } from "../../lib/identity.ts";
import type { AppEnv } from "../../variables.ts";
import { idempotency } from "./index.ts";

type RouteInput = GatewayConfigInput["routes"][number];

/** What the later stages answer: which call this was, and the body the stage handed on. */
function echoBody(c: Context<AppEnv>, call: number): Response {
  const body = c.get("bufferedBody");
  return Response.json(
    { call, bodyBytes: body?.byteLength ?? null, readInWorker: c.get("responseReadInWorker") === true },
    { headers: { "x-answer": `call-${call}` } },
  );
}

function idempotentApp(
  route: Partial<RouteInput> = {},
  answer: (c: Context<AppEnv>, call: number) => Response | Promise<Response> = echoBody,
) {
  const routed = installRoute({
    clusters: { o: { targets: [{ url: "http://127.0.0.1:9" }] } },
    routes: [{ id: "orders", match: { path: "/*" }, cluster: "o", idempotency: {}, ...route }],
  });
  const later = laterStages(answer);
  const recorded = recordingStageApp(idempotency, routed, later.handler, (c) => {
    const consumer = c.req.header("x-test-consumer");
    const identity: Identity | undefined =
      consumer === undefined
        ? undefined
        : { method: "api-key", subject: consumer, consumer, scopes: new Set(), claims: {}, rateLimitKey: consumer };
    return { ...targetVars(c), identity };
  });
  return { ...recorded, later };
}

function post(key: string | null, body: string, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", body, headers: { ...(key === null ? {} : { "idempotency-key": `"${key}"` }), ...headers } };
}

// The first call into a fresh local Durable Object runtime can take longer than the stage waits for
// its store (production objects start in milliseconds): one request wakes it before the tests.
beforeAll(async () => {
  const { app } = idempotentApp();
  const work = new BackgroundWork();
  await (await send(app, "/warm-up", post(crypto.randomUUID(), "warm-up"), env, work)).arrayBuffer();
  await work.settled();
});

describe("idempotency stage", () => {
  it("forwards the first request with its body read in full, then replays the stored answer to a duplicate", async () => {
    const { app, later, records } = idempotentApp();
    const key = crypto.randomUUID();
    const work = new BackgroundWork();
    const first = await send(app, "/orders", post(key, "order #1"), env, work);
    expect(first.status).toBe(200);
    const answer = await first.json();
    expect(answer).toEqual({ call: 1, bodyBytes: 8, readInWorker: true });
    // The answer is stored in the background: the duplicate comes after it landed.
    await work.settled();
    const again = await send(app, "/orders", post(key, "order #1"), env);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("x-answer")).toBe("call-1");
    // The request id is each request's own, not the first one's stored with the answer.
    expect(again.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(again.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
    expect(await again.json()).toEqual(answer);
    expect(later.calls).toBe(1);
    expect(records.map((r) => r.idempotency)).toEqual(["first", "replayed"]);
  });

  it("answers 409 to a duplicate while the first is still in flight, and 422 to the key with another body", async () => {
    const gate = Promise.withResolvers<void>();
    const { app, later } = idempotentApp({}, async (c, call) => {
      if (call === 1) await gate.promise;
      return echoBody(c, call);
    });
    const key = crypto.randomUUID();
    const work = new BackgroundWork();
    const first = send(app, "/orders", post(key, "order #2"), env, work);
    await expect.poll(() => later.calls, { timeout: 5_000 }).toBe(1);
    const duplicate = await send(app, "/orders", post(key, "order #2"), env);
    await expectProblem(duplicate, 409, "idempotency-conflict");
    expect(duplicate.headers.get("retry-after")).toBe("1");
    gate.resolve();
    expect((await first).status).toBe(200);
    await work.settled();
    await expectProblem(await send(app, "/orders", post(key, "order #3"), env), 422, "idempotency-key-reused");
    expect(later.calls).toBe(1);
  });

  it("keeps keys apart per caller: another consumer's request with the same key is its own first request", async () => {
    const { app, later } = idempotentApp();
    const key = crypto.randomUUID();
    const work = new BackgroundWork();
    await send(app, "/orders", post(key, "same", { "x-test-consumer": "alice" }), env, work);
    await work.settled();
    const other = await send(app, "/orders", post(key, "same", { "x-test-consumer": "mallory" }), env, work);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(await other.json()).toMatchObject({ call: 2 });
    await work.settled();
    // The first caller's own duplicate is still its replay.
    const own = await send(app, "/orders", post(key, "same", { "x-test-consumer": "alice" }), env, work);
    expect(own.headers.get("idempotent-replayed")).toBe("true");
    expect(await own.json()).toMatchObject({ call: 1 });
    expect(later.calls).toBe(2);
  });

  it("releases the key after a 5xx answer, so a retry is forwarded again", async () => {
    const { app, later } = idempotentApp({}, (c, call) => (call === 1 ? new Response("broken", { status: 503 }) : echoBody(c, call)));
    const key = crypto.randomUUID();
    const work = new BackgroundWork();
    expect((await send(app, "/orders", post(key, "retry me"), env, work)).status).toBe(503);
    await work.settled();
    const retry = await send(app, "/orders", post(key, "retry me"), env, work);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    await work.settled();
    // The answer that succeeded is the one kept.
    const duplicate = await send(app, "/orders", post(key, "retry me"), env, work);
    expect(duplicate.headers.get("idempotent-replayed")).toBe("true");
    expect(duplicate.status).toBe(200);
    expect(later.calls).toBe(2);
  });

  it("refuses a malformed or (where required) missing key with 400, and a body past the limit with 413, forwarding nothing", async () => {
    const required = idempotentApp({ idempotency: { required: true, maxRequestBytes: 16 } });
    await expectProblem(await send(required.app, "/orders", post(null, "x"), env), 400, "bad-request");
    await expectProblem(await send(required.app, "/orders", post("k".repeat(256), "x"), env), 400, "bad-request");
    await expectProblem(await send(required.app, "/orders", post("tab\there", "x"), env), 400, "bad-request");
    await expectProblem(await send(required.app, "/orders", post(crypto.randomUUID(), "x".repeat(17)), env), 413, "payload-too-large");
    expect(required.later.calls).toBe(0);
    // Methods other than POST and PATCH are not the stage's: they pass untouched.
    expect((await send(required.app, "/orders", { method: "PUT", body: "x" }, env)).status).toBe(200);
    expect(required.later.seen[0]?.bufferedBody).toBeUndefined();
  });

  it("answers 503 idempotency-unavailable when the store is not bound, forwarding nothing", async () => {
    const { app, later } = idempotentApp();
    const unbound: Bindings = { CONFIG: env.CONFIG };
    await expectProblem(await send(app, "/orders", post(crypto.randomUUID(), "x"), unbound), 503, "idempotency-unavailable");
    expect(later.calls).toBe(0);
  });
});
