/**
 * Helpers for tests that run inside workerd: publish a config to the real (local) KV namespace,
 * wait until the gateway serves it, and call the gateway the way the platform would.
 */
import { env, exports } from "cloudflare:workers";
import { expect, inject } from "vitest";
import type { GatewayConfigInput } from "../src/config/schema.ts";
import { publishConfig } from "../src/config/store.ts";

export const originPort = inject("originPort");
export const origin = `http://127.0.0.1:${originPort}`;
export const closedOrigin = `http://127.0.0.1:${inject("closedPort")}`;

/** Sends a request to the gateway as a client would; the IP stands in for CF-Connecting-IP. */
export function gateway(path: string, init: RequestInit & { host?: string; clientIp?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", init.clientIp ?? "203.0.113.7");
  return exports.default.fetch(new Request(`http://${init.host ?? "gateway.test"}${path}`, { redirect: "manual", ...init, headers }));
}

/** Publishes `config` and resolves once the gateway reports serving that version. */
export async function applyConfig(config: GatewayConfigInput): Promise<string> {
  const published = await publishConfig(env.CONFIG, config, { allowPrivateUpstreams: true });
  if (!published.ok) throw new Error(`test config invalid: ${JSON.stringify(published.issues)}`);
  for (let i = 0; i < 200; i++) {
    const health = (await (await gateway("/__gateway/health")).json()) as { config: { version: string | null } };
    if (health.config.version === published.version) return published.version;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gateway did not load config ${published.version}`);
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  requestId: string;
  issues?: Array<{ path: string; message: string }>;
  currentVersion?: string | null;
}

/**
 * Asserts a problem+json answer of the gateway's own: the status, the type, the request id of the
 * response in the body, and nothing of a stack trace or an upstream address.
 */
export async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const problem = (await response.json()) as Problem;
  expect(problem).toMatchObject({ type: `urn:edgegate:problem:${code}`, status });
  expect(problem.requestId).toBe(response.headers.get("x-request-id"));
  expect(JSON.stringify(problem)).not.toMatch(/127\.0\.0\.1|stack|at \w+ \(/);
  return problem;
}

/** Reads a counter kept by the test origin. */
export async function originHits(key: string): Promise<number> {
  const body = (await (await fetch(`${origin}/__control/hits?key=${encodeURIComponent(key)}`)).json()) as { hits: number };
  return body.hits;
}

/** A single-cluster config routing everything under `/` to the test origin. */
export function simpleConfig(
  route: Partial<GatewayConfigInput["routes"][number]> = {},
  cluster: Partial<GatewayConfigInput["clusters"][string]> = {},
): GatewayConfigInput {
  return {
    clusters: { origin: { targets: [{ url: origin }], ...cluster } },
    routes: [{ id: "all", match: { path: "/*" }, cluster: "origin", ...route }],
  };
}
