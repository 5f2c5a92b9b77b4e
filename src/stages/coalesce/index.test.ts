import { env } from "cloudflare:workers";
import type { Context } from "hono";
import { describe, expect, it } from "vitest";
import { BackgroundWork, installRoute, laterStages, send, stageApp, targetVars } from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import { GatewayError } from "../../errors.ts";
import { newRequestRecord, type RequestRecord } from "../../lib/request-record.ts";
import type { AppEnv } from "../../variables.ts";
import { coalesce } from "./index.ts";

type CoalesceInput = NonNullable<GatewayConfigInput["routes"][number]["coalesce"]>;

/** The later stages' answer: which call it was and the credential it was made with. */
type Answer = (c: Context<AppEnv>, call: number) => Response | Promise<Response>;

function echoCall(c: Context<AppEnv>, call: number): Response {
  return Response.json({ call, authorization: c.req.header("authorization") ?? null });
}

/**
 * A coalescing route whose later stages hold their calls until every request of the first burst
 * has its role, so requests line up behind one call before it answers (later requests are not
 * held). Each request's record and id are kept, in order.
 */
function coalescingApp(policy: CoalesceInput = {}, answer: Answer = echoCall) {
  const routed = installRoute({
    clusters: { o: { targets: [{ url: "http://127.0.0.1:9" }] } },
    routes: [{ id: "reads", match: { path: "/*" }, cluster: "o", coalesce: policy }],
  });
  const gate = Promise.withResolvers<void>();
  const later = laterStages(async (c, call) => {
    await gate.promise;
    return answer(c, call);
  });
  const records: RequestRecord[] = [];
  const ids: string[] = [];
  const app = stageApp(
    coalesce,
    (c) => {
      const record = newRequestRecord(c.req.method, Date.now());
      const requestId = crypto.randomUUID();
      records.push(record);
      ids.push(requestId);
      return { ...routed.vars, ...targetVars(c), record, requestId };
    },
    later.handler,
  );
  const work = new BackgroundWork();
  /** Sends one request per init at once; opens the gate once each has its role, and resolves with every response. */
  const burst = async (path: string, inits: RequestInit[]): Promise<Response[]> => {
    const from = records.length;
    const pending = inits.map((init) => send(app, path, init, env, work));
    await expect.poll(() => records.slice(from).every((r) => r.coalesce !== null) && records.length - from === inits.length).toBe(true);
    gate.resolve();
    const responses = await Promise.all(pending);
    await work.settled();
    return responses;
  };
  return { app, later, ids, burst, roles: () => records.map((r) => r.coalesce) };
}

const withAuth = (authorization: string): RequestInit => ({ headers: { authorization } });

describe("coalesce stage", () => {
  it("lets identical concurrent GETs share one call of the later stages, each answer with its own request id", async () => {
    const { later, ids, burst, roles } = coalescingApp();
    const responses = await burst("/items?page=1", [withAuth("Bearer a"), withAuth("Bearer a"), withAuth("Bearer a")]);
    expect(later.calls).toBe(1);
    expect(roles()).toEqual(["leader", "follower", "follower"]);
    for (const [i, response] of responses.entries()) {
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ call: 1, authorization: "Bearer a" });
      expect(response.headers.get("x-request-id")).toBe(ids[i]);
    }
    // The leader's call told the proxy that its answer is read in the Worker, and judged on the upstream's headers.
    expect(later.seen[0]).toMatchObject({ responseReadInWorker: true, wantsUpstreamHeaders: true });
  });

  it("never shares between different credentials unless the route's answers are public", async () => {
    const private_ = coalescingApp();
    const answers = await private_.burst("/me", [withAuth("Bearer alice"), withAuth("Bearer mallory")]);
    expect(private_.later.calls).toBe(2);
    expect(private_.roles()).toEqual(["leader", "leader"]);
    expect(await Promise.all(answers.map(async (r) => ((await r.json()) as { authorization: string }).authorization))).toEqual([
      "Bearer alice",
      "Bearer mallory",
    ]);

    const public_ = coalescingApp({ public: true });
    await public_.burst("/catalog", [withAuth("Bearer alice"), withAuth("Bearer mallory")]);
    expect(public_.later.calls).toBe(1);
  });

  it("keeps callers apart on a header the answer varies on", async () => {
    const { later, burst } = coalescingApp({ varyHeaders: ["accept-language"] });
    const lang = (value: string): RequestInit => ({ headers: { "accept-language": value } });
    await burst("/page", [lang("en"), lang("de"), lang("en")]);
    expect(later.calls).toBe(2);
  });

  it("sends writes and range reads to the later stages each on their own", async () => {
    const { later, burst, roles } = coalescingApp();
    await burst("/items", [
      { method: "POST", body: "a" },
      { method: "POST", body: "a" },
      { headers: { range: "bytes=0-9" } },
      { headers: { range: "bytes=0-9" } },
    ]);
    expect(later.calls).toBe(4);
    expect(roles()).toEqual(["bypass", "bypass", "bypass", "bypass"]);
  });

  it("never merges a conditional read: an unconditional caller never gets another's 304 or 412", async () => {
    const { later, burst, roles } = coalescingApp({}, (c, call) => {
      const etag = c.req.header("if-none-match") ?? c.req.header("if_none_match");
      if (etag === '"v1"') return new Response(null, { status: 304, headers: { etag: '"v1"' } });
      if (c.req.header("if-match") === '"v0"') return new Response(null, { status: 412 });
      return echoCall(c, call);
    });
    const responses = await burst("/doc", [
      { headers: { "if-none-match": '"v1"' } },
      {},
      { headers: { if_none_match: '"v1"' } },
      { headers: { "if-match": '"v0"' } },
      { headers: { "if-modified-since": "Wed, 21 Oct 2015 07:28:00 GMT" } },
      {},
    ]);
    expect(responses.map((r) => r.status)).toEqual([304, 200, 304, 412, 200, 200]);
    expect(roles()).toEqual(["bypass", "leader", "bypass", "bypass", "bypass", "follower"]);
    expect(later.calls).toBe(5);
  });

  it("does not hand one caller's Set-Cookie answer to another: followers call again, and the key passes for a while", async () => {
    const { app, later, burst, roles } = coalescingApp({}, (c, call) => {
      const response = echoCall(c, call);
      response.headers.set("set-cookie", `session=${call}; HttpOnly`);
      return response;
    });
    const [leader, follower] = await burst("/login", [{}, {}]);
    expect(later.calls).toBe(2);
    expect(leader?.headers.get("set-cookie")).toBe("session=1; HttpOnly");
    expect(follower?.headers.get("set-cookie")).toBe("session=2; HttpOnly");
    await send(app, "/login", {}, env);
    expect(roles()).toEqual(["leader", "follower", "pass"]);
  });

  it("gives followers the leader's failure as a problem of their own, with one call made", async () => {
    const { later, ids, burst } = coalescingApp({}, () => {
      throw new GatewayError("upstream-unavailable", "The upstream could not be reached.");
    });
    const responses = await burst("/flaky", [{}, {}, {}]);
    expect(later.calls).toBe(1);
    for (const [i, response] of responses.entries()) {
      const problem = await expectProblem(response, 502, "upstream-unavailable");
      expect(problem.requestId).toBe(ids[i]);
    }
  });
});
