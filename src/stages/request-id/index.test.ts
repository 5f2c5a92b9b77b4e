import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { answerStageError, laterStages, send } from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import { GatewayError } from "../../errors.ts";
import type { AppEnv } from "../../variables.ts";
import { requestId } from "./index.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The stage first, as in the gateway: nothing before it sets the id or the trace. */
function idApp(later = laterStages()) {
  const app = new Hono<AppEnv>();
  app.use(requestId);
  app.all("*", later.handler);
  app.onError(answerStageError);
  return { app, later };
}

async function seenFor(headers: Record<string, string>) {
  const { app, later } = idApp();
  const response = await send(app, "/", { headers }, env);
  expect(response.status).toBe(200);
  const seen = later.seen[0];
  if (seen === undefined) throw new Error("the later stages were not reached");
  return seen;
}

describe("request-id stage", () => {
  it("gives a request without X-Request-Id a fresh UUID and starts a new trace", async () => {
    const first = await seenFor({});
    const second = await seenFor({});
    expect(first.requestId).toMatch(UUID);
    expect(second.requestId).not.toBe(first.requestId);
    expect(first.traceparent).toMatch(TRACEPARENT);
    expect(first.traceparent.endsWith("-01")).toBe(true);
    expect(first.tracestate).toBeNull();
  });

  it("keeps a client's request id of visible ASCII up to 128 characters", async () => {
    for (const id of ["req-42", "a".repeat(128), "Ab0!~{}:/"]) {
      expect((await seenFor({ "x-request-id": id })).requestId).toBe(id);
    }
  });

  it("replaces a malformed client request id rather than passing it on", async () => {
    // Too long, inner space or tab, empty: each could be used to forge or bloat log lines.
    for (const id of ["a".repeat(129), "two words", "tab\there", ""]) {
      const seen = await seenFor({ "x-request-id": id });
      expect(seen.requestId).toMatch(UUID);
      expect(seen.requestId).not.toBe(id);
    }
  });

  it("continues a valid traceparent: same trace id and flags, the gateway as the new parent span, tracestate kept", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    const seen = await seenFor({ traceparent: `00-${traceId}-${parent}-00`, tracestate: "vendor=abc" });
    const [, seenTrace, seenSpan, flags] = TRACEPARENT.exec(seen.traceparent) ?? [];
    expect(seenTrace).toBe(traceId);
    expect(flags).toBe("00");
    expect(seenSpan).not.toBe(parent);
    expect(seen.tracestate).toBe("vendor=abc");
  });

  it("starts a new trace and drops tracestate when traceparent is invalid", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const invalid = [
      `ff-${traceId}-00f067aa0ba902b7-01`, // version ff is forbidden
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, // all-zero trace id
      `00-${traceId}-${"0".repeat(16)}-01`, // all-zero parent id
      `00-${traceId}-00f067aa0ba902b7-01-extra`, // version 00 has no further fields
      `00-${traceId.toUpperCase()}-00f067aa0ba902b7-01`, // upper-case hex is not the format
      "not a traceparent",
    ];
    for (const traceparent of invalid) {
      const seen = await seenFor({ traceparent, tracestate: "vendor=abc" });
      expect(seen.traceparent).toMatch(TRACEPARENT);
      expect(seen.traceparent).not.toContain(traceId);
      expect(seen.tracestate).toBeNull();
    }
  });

  it("puts the id it chose on the gateway's error answers", async () => {
    const { app } = idApp(
      laterStages(() => {
        throw new GatewayError("upstream-unavailable", "The upstream could not be reached.");
      }),
    );
    const kept = await send(app, "/", { headers: { "x-request-id": "client-id-7" } }, env);
    const problem = await expectProblem(kept, 502, "upstream-unavailable");
    expect(problem.requestId).toBe("client-id-7");
    const replaced = await send(app, "/", { headers: { "x-request-id": "has space" } }, env);
    expect((await expectProblem(replaced, 502, "upstream-unavailable")).requestId).toMatch(UUID);
  });
});
