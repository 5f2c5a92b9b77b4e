import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { linesDuring } from "../../../test/log-capture.ts";
import { answerStageError, freshName, installRoute, laterStages, type StageRoute, send } from "../../../test/stage-support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import { GatewayError } from "../../errors.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import type { RequestDataPoint } from "../../lib/request-record.ts";
import type { AppEnv } from "../../variables.ts";
import { observe } from "./index.ts";

type Observability = NonNullable<GatewayConfigInput["observability"]>;

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

function observedRoute(observability: Observability): StageRoute {
  const name = freshName("ob");
  return installRoute({
    observability,
    clusters: { o: { targets: [{ url: "http://127.0.0.1:9" }] } },
    routes: [{ id: name, match: { path: "/*" }, cluster: "o" }],
  });
}

/** Bindings whose METRICS dataset keeps the points written to it. */
function metricsEnv(): { bindings: Bindings; points: RequestDataPoint[] } {
  const points: RequestDataPoint[] = [];
  const dataset = { writeDataPoint: (point: RequestDataPoint) => points.push(point) } as unknown as AnalyticsEngineDataset;
  return { bindings: { CONFIG: env.CONFIG, METRICS: dataset }, points };
}

/**
 * Observe around everything, as in the gateway; then what match-route and the later stages
 * decide for a routed request (`routed`), or nothing for an unrouted one; then `answer`.
 */
function observedApp(routed: StageRoute | null, answer = laterStages(() => new Response("ok"))) {
  const app = new Hono<AppEnv>();
  app.use(observe);
  app.use(async function laterDecisions(c, next) {
    c.set("requestId", "req-observed");
    c.set("traceparent", `00-${TRACE_ID}-00f067aa0ba902b7-01`);
    if (routed !== null) {
      c.set("observability", routed.version.snapshot.observability);
      c.set("route", routed.route);
      const record = c.get("record");
      record.routeId = routed.route.id;
      record.cluster = routed.cluster.name;
      record.path = new URL(c.req.url).pathname;
      record.auth = "jwt";
    }
    await next();
  });
  app.all("*", answer.handler);
  app.onError(answerStageError);
  return app;
}

describe("observe stage", () => {
  it("writes one access log line for a sampled request, with the stages' decisions and the trace id", async () => {
    const routed = observedRoute({ accessLog: { sampleRate: 1 } });
    const app = observedApp(routed);
    const lines = await linesDuring("access", async () => {
      expect((await send(app, "/orders/7?token=secret", {}, env)).status).toBe(200);
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      requestId: "req-observed",
      traceId: TRACE_ID,
      method: "GET",
      path: "/orders/7",
      status: 200,
      route: routed.route.id,
      cluster: "o",
      decisions: { auth: "jwt" },
    });
    // The query can carry credentials: it is not in the line.
    expect(JSON.stringify(lines[0])).not.toContain("secret");
  });

  it("logs every 5xx the gateway answers, whatever the sample, and no successful request at sample rate 0", async () => {
    const routed = observedRoute({ accessLog: { sampleRate: 0, errors: true } });
    const ok = observedApp(routed);
    const failing = observedApp(
      routed,
      laterStages(() => {
        throw new GatewayError("upstream-unavailable", "The upstream could not be reached.");
      }),
    );
    const lines = await linesDuring("access", async () => {
      for (let i = 0; i < 5; i++) await send(ok, "/", {}, env);
      expect((await send(failing, "/", {}, env)).status).toBe(502);
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", status: 502, route: routed.route.id });
  });

  it("writes one metrics data point per request and counts the response by route and status class", async () => {
    const routed = observedRoute({});
    const { bindings, points } = metricsEnv();
    // GET (method index 0), 2xx.
    const counter = routed.route.metrics.requests[0]?.[2] as string;
    const before = counterSnapshot()[counter] ?? 0;
    await send(observedApp(routed), "/", {}, bindings);
    expect(points).toHaveLength(1);
    expect(points[0]?.indexes).toEqual([routed.route.id]);
    expect(points[0]?.blobs.slice(0, 5)).toEqual([routed.route.id, "o", "GET", "2xx", "jwt"]);
    expect(points[0]?.doubles[0]).toBe(200);
    expect(counterSnapshot()[counter]).toBe(before + 1);
  });

  it("records a request no route matched under '-', and writes no log line without a loaded config", async () => {
    const { bindings, points } = metricsEnv();
    const unrouted = observedApp(
      null,
      laterStages(() => {
        throw new GatewayError("route-not-found");
      }),
    );
    const lines = await linesDuring("access", async () => {
      expect((await send(unrouted, "/nowhere", {}, bindings)).status).toBe(404);
    });
    expect(lines).toHaveLength(0);
    expect(points[0]?.indexes).toEqual(["-"]);
    expect(points[0]?.blobs.slice(0, 4)).toEqual(["-", "-", "GET", "4xx"]);
  });

  it("adds Server-Timing only when the config asks for it, on the gateway's errors too", async () => {
    const timed = observedApp(observedRoute({ serverTiming: true }));
    expect((await send(timed, "/", {}, env)).headers.get("server-timing")).toMatch(/^gateway;dur=\d+$/);
    const failing = observedApp(
      observedRoute({ serverTiming: true }),
      laterStages(() => {
        throw new GatewayError("upstream-timeout");
      }),
    );
    expect((await send(failing, "/", {}, env)).headers.get("server-timing")).toMatch(/^gateway;dur=\d+$/);
    const untimed = observedApp(observedRoute({}));
    expect((await send(untimed, "/", {}, env)).headers.get("server-timing")).toBeNull();
  });
});
