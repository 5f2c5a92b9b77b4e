/**
 * The proxy stage with origin mTLS, in process: the binding is a plain object with a fetch here, so
 * the test sees each call and what it was given. (test/integration/proxy.mtls.test.ts runs the same
 * through the whole Worker, with the binding a service binding.)
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { linesDuring } from "../../../test/log-capture.ts";
import { BackgroundWork, freshName, installRoute, laterStages, send, stageApp, targetVars } from "../../../test/stage-support.ts";
import { expectProblem, origin, originHits } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import type { Bindings } from "../../env.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import { newRequestRecord, type RequestRecord } from "../../lib/request-record.ts";
import type { ClusterHealth } from "../../services/breaker/cluster-health.ts";
import { proxy } from "./index.ts";

type RouteInput = GatewayConfigInput["routes"][number];

/** A stand-in certificate binding: sends on with the global fetch, and keeps what each call was given. */
function recordingBinding() {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  const binding = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      calls.push({ url: String(input), init });
      return fetch(input, init);
    },
  };
  return { binding, calls };
}

/** A route to the test origin on a cluster whose attempts go through binding TEST_CERT. */
function certifiedRoute(route: Partial<RouteInput> = {}) {
  const name = freshName("mtls");
  return installRoute({
    clusters: { [name]: { targets: [{ url: origin }], mtlsCertificate: "TEST_CERT" } },
    routes: [{ id: name, match: { path: "/*" }, cluster: name, ...route }],
  });
}

/** Cluster health that only records what the proxy tells it. */
function recordingHealth() {
  const told: string[] = [];
  const health = {
    routable: () => true,
    begin: (i: number) => {
      told.push(`begin ${i}`);
      return null;
    },
    end: (i: number, _lease: unknown, outcome: unknown) => told.push(`end ${i} ${String(outcome)}`),
  } as unknown as ClusterHealth;
  return { health, told };
}

function proxyApp(routed: ReturnType<typeof installRoute>, health: ClusterHealth | null = null) {
  const records: RequestRecord[] = [];
  const app = stageApp(
    proxy,
    (c) => {
      const record = newRequestRecord(c.req.method, Date.now());
      records.push(record);
      return { ...routed.vars, ...targetVars(c), clusterHealth: health, record };
    },
    laterStages().handler,
  );
  return { app, records };
}

describe("proxy stage: origin mTLS", () => {
  it("sends every attempt through the cluster's certificate binding, retries included, as the global fetch would be called", async () => {
    const { binding, calls } = recordingBinding();
    const { app, records } = proxyApp(certifiedRoute({ retry: { attempts: 2, on: ["gateway-error"] } }));
    const key = crypto.randomUUID();
    const response = await send(app, `/flaky?key=${key}&failures=2&status=503`, {}, { CONFIG: env.CONFIG, TEST_CERT: binding } as Bindings);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, hit: 3 });
    expect(calls.map((call) => call.url)).toEqual(Array(3).fill(`${origin}/flaky?key=${key}&failures=2&status=503`));
    for (const { init } of calls) {
      expect(init).toMatchObject({ method: "GET", redirect: "manual" });
      expect(init?.signal).toBeInstanceOf(AbortSignal);
    }
    expect(records[0]).toMatchObject({ attempts: 3, upstreamStatus: 200 });
  });

  it("answers 500 internal-error before any attempt when the deployment lacks the binding, and tells the breaker nothing", async () => {
    const routed = certifiedRoute();
    for (const bindings of [{ CONFIG: env.CONFIG }, { CONFIG: env.CONFIG, TEST_CERT: "a secret of that name" }] as Bindings[]) {
      const { health, told } = recordingHealth();
      const { app, records } = proxyApp(routed, health);
      const key = crypto.randomUUID();
      const logged = await linesDuring("proxy.certificate_missing", async () => {
        const problem = await expectProblem(await send(app, `/count?key=${key}`, {}, bindings), 500, "internal-error");
        // The binding's name is the deployment's business, not the client's.
        expect(JSON.stringify(problem)).not.toContain("TEST_CERT");
      });
      expect(logged).toEqual([
        expect.objectContaining({ level: "error", cluster: routed.cluster.name, binding: "TEST_CERT", sending: "request" }),
      ]);
      expect(await originHits(key)).toBe(0);
      expect(told).toEqual([]);
      expect(records[0]).toMatchObject({ attempts: 0, upstreamStatus: null });
    }
  });

  it("sends mirror copies through the mirror cluster's binding, and fails only the copy when the deployment lacks it", async () => {
    const name = freshName("mtls-mirror");
    const routed = installRoute({
      clusters: {
        [name]: { targets: [{ url: origin }] },
        [`${name}-shadow`]: { targets: [{ url: origin }], mtlsCertificate: "TEST_CERT" },
      },
      routes: [{ id: name, match: { path: "/*" }, cluster: name, mirror: { cluster: `${name}-shadow` } }],
    });
    const { app } = proxyApp(routed);
    const failed = `mirror_requests_total{route="${name}",outcome="failed"}`;

    const { binding, calls } = recordingBinding();
    const key = crypto.randomUUID();
    const work = new BackgroundWork();
    expect((await send(app, `/mirror-sink?key=${key}`, {}, { CONFIG: env.CONFIG, TEST_CERT: binding } as Bindings, work)).status).toBe(200);
    await work.settled();
    // The route's own cluster has no certificate: only the copy went through the binding.
    expect(calls.map((call) => call.url)).toEqual([`${origin}/mirror-sink?key=${key}`]);
    expect(await originHits(key)).toBe(2);

    const unbound = crypto.randomUUID();
    const later = new BackgroundWork();
    const logged = await linesDuring("proxy.certificate_missing", async () => {
      expect((await send(app, `/mirror-sink?key=${unbound}`, {}, { CONFIG: env.CONFIG } as Bindings, later)).status).toBe(200);
      await later.settled();
    });
    expect(logged).toEqual([expect.objectContaining({ binding: "TEST_CERT", sending: "mirror" })]);
    expect(await originHits(unbound)).toBe(1);
    expect(counterSnapshot()[failed]).toBe(1);
  });
});
