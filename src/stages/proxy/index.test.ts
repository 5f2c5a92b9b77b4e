import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { freshName, installRoute, laterStages, type StageRoute, send, stageApp, targetVars } from "../../../test/stage-support.ts";
import { closedOrigin, expectProblem, origin, originHits } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import { newRequestRecord, type RequestRecord } from "../../lib/request-record.ts";
import type { Variables } from "../../variables.ts";
import { proxy } from "./index.ts";

type RouteInput = GatewayConfigInput["routes"][number];

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

/** A route to `targets` (the local test origin unless given). */
function proxiedRoute(route: Partial<RouteInput> = {}, targets: string[] = [origin]): StageRoute {
  const name = freshName("px");
  return installRoute({
    clusters: { [name]: { targets: targets.map((url) => ({ url })) } },
    routes: [{ id: name, match: { path: "/*" }, cluster: name, ...route }],
  });
}

/** The proxy as the last stage, after what the earlier stages decided (`vars`); its records in order. */
function proxyApp(routed: StageRoute, vars: Partial<Variables> = {}) {
  const records: RequestRecord[] = [];
  const later = laterStages();
  const app = stageApp(
    proxy,
    (c) => {
      const record = newRequestRecord(c.req.method, Date.now());
      records.push(record);
      return { ...routed.vars, ...targetVars(c), clusterHealth: routed.clusterRuntime.health, record, ...vars };
    },
    // Never reached: the proxy answers every request itself.
    later.handler,
  );
  return { app, later, records };
}

describe("proxy stage", () => {
  it("forwards to the cluster's origin and streams its answer back, with the request id and the earlier stages' headers", async () => {
    const routed = proxiedRoute();
    const { app, later, records } = proxyApp(routed, {
      requestId: "req-proxy-1",
      identityHeaders: [["x-user", "u-7"]],
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    });
    const key = crypto.randomUUID();
    const response = await send(app, `/echo?key=${key}&x=1`, { headers: { "cf-connecting-ip": "203.0.113.9" } }, env);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toBe("req-proxy-1");
    const echo = (await response.json()) as Echo;
    expect(echo).toMatchObject({ method: "GET", url: `/echo?key=${key}&x=1` });
    expect(echo.headers).toMatchObject({
      "x-request-id": "req-proxy-1",
      "x-user": "u-7",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "x-forwarded-for": "203.0.113.9",
      "x-forwarded-host": "stage.test",
      "x-forwarded-proto": "http",
    });
    expect(await originHits(key)).toBe(1);
    expect(later.calls).toBe(0);
    expect(records[0]).toMatchObject({ attempts: 1, upstreamStatus: 200, target: origin });
  });

  it("strips hop-by-hop fields both ways (RFC 9110 section 7.6.1), and the client's forwarding fields", async () => {
    const { app } = proxyApp(proxiedRoute());
    const response = await send(
      app,
      "/echo",
      {
        headers: {
          connection: "x-hop-secret",
          "x-hop-secret": "for the next hop only",
          "proxy-authorization": "Basic c2VjcmV0",
          "x-forwarded-for": "198.51.100.66",
          forwarded: "for=198.51.100.66",
          "cf-connecting-ip": "203.0.113.9",
        },
      },
      env,
    );
    // The origin's own hop-by-hop fields, and the one its Connection names, stop at the gateway.
    for (const name of ["connection", "keep-alive", "x-origin-private", "proxy-authenticate"])
      expect(response.headers.get(name)).toBeNull();
    const seen = ((await response.json()) as Echo).headers;
    expect(seen["x-hop-secret"]).toBeUndefined();
    expect(seen["proxy-authorization"]).toBeUndefined();
    expect(seen["x-forwarded-for"]).toBe("203.0.113.9");
    expect(seen.forwarded).toBe("for=203.0.113.9;host=stage.test;proto=http");
  });

  it("keeps a route's credentials from the upstream", async () => {
    const routed = proxiedRoute({ auth: { apiKey: {} } });
    const { app } = proxyApp(routed);
    const response = await send(app, "/echo", { headers: { "x-api-key": "egk_secret-key-value", x_api_key: "egk_folded-spelling" } }, env);
    const seen = ((await response.json()) as Echo).headers;
    expect(JSON.stringify(seen)).not.toContain("egk_");
  });

  it("forwards a request body whole, and refuses one past the route's limit before calling the origin", async () => {
    const { app } = proxyApp(proxiedRoute({ maxBodyBytes: 1_000 }));
    const posted = await send(app, "/echo", { method: "POST", body: "x".repeat(1_000) }, env);
    expect(((await posted.json()) as Echo).bodyBytes).toBe(1_000);
    const key = crypto.randomUUID();
    const tooLarge = await send(app, `/count?key=${key}`, { method: "POST", body: "x".repeat(1_001) }, env);
    await expectProblem(tooLarge, 413, "payload-too-large");
    expect(await originHits(key)).toBe(0);
  });

  it("answers 502 upstream-unavailable when the origin refuses the connection, naming no address", async () => {
    const { app, records } = proxyApp(proxiedRoute({}, [closedOrigin]));
    const response = await send(app, "/echo", {}, env);
    const problem = await expectProblem(response, 502, "upstream-unavailable");
    expect(JSON.stringify(problem)).not.toContain(closedOrigin.split("//")[1] as string);
    expect(records[0]).toMatchObject({ attempts: 1, upstreamStatus: null });
  });

  it("retries a refused connection on another target, within the route's retry policy", async () => {
    const routed = proxiedRoute({ retry: { attempts: 1, on: ["connect-failure"] } }, [closedOrigin, origin]);
    const { app, records } = proxyApp(routed);
    // Two requests: the balancer rotates, so one of them tries the refused target first.
    for (let i = 0; i < 2; i++) expect((await send(app, "/echo", {}, env)).status).toBe(200);
    // Both ended on the origin that answers; the one that tried the refused target first took two attempts.
    expect(records.map((r) => r.target)).toEqual([origin, origin]);
    expect(records.some((r) => r.attempts === 2)).toBe(true);
  });

  it("answers 504 upstream-timeout when the origin does not answer within the route's deadline", async () => {
    const { app } = proxyApp(proxiedRoute({ timeoutMs: 200 }));
    await expectProblem(await send(app, "/slow?ms=5000", {}, env), 504, "upstream-timeout");
  });
});
