/**
 * Helpers for in-process tests of one pipeline stage: a config compiled and installed the way the
 * snapshot cache installs it, a Hono app that mounts the stage alone behind a middleware putting on
 * `c.var` what the earlier stages would have, errors answered as the gateway answers them, and an
 * ExecutionContext whose background work (`waitUntil`) a test can wait for.
 */
import { type Context, type ErrorHandler, type ExecutionContext, type Handler, Hono, type MiddlewareHandler } from "hono";
import { type CompiledRoute, compileConfig } from "../src/config/compile.ts";
import { type GatewayConfigInput, parseConfig } from "../src/config/schema.ts";
import { answerError } from "../src/errors.ts";
import type { RequestRecord } from "../src/lib/request-record.ts";
import { newRequestRecord } from "../src/lib/request-record.ts";
import {
  type ClusterRuntime,
  type InstalledVersion,
  IsolateRuntime,
  type IsolateRuntimeOptions,
  type RouteRuntime,
} from "../src/runtime/isolate-runtime.ts";
import type { AppEnv, Variables } from "../src/variables.ts";

/** Where stage tests send their requests; only the stage under test ever sees this host. */
export const STAGE_HOST = "stage.test";

/** One route of an installed config, with the runtime handles the version holds for it. */
export interface StageRoute {
  route: CompiledRoute;
  runtime: RouteRuntime;
  cluster: CompiledRoute["cluster"];
  clusterRuntime: ClusterRuntime;
  version: InstalledVersion;
  /** What match-route puts on `c.var` for this route. */
  vars: Pick<Variables, "route" | "routeRuntime" | "cluster" | "clusterRuntime">;
}

/**
 * Parses, compiles and installs `input` in a fresh isolate runtime (so no state is shared between
 * tests), and returns route `routeId` (the first route when unset) with its handles.
 */
export function installRoute(input: GatewayConfigInput, options: IsolateRuntimeOptions & { routeId?: string } = {}): StageRoute {
  const parsed = parseConfig(input, { allowPrivateUpstreams: true });
  if (!parsed.ok) throw new Error(`test config invalid: ${JSON.stringify(parsed.issues)}`);
  const { routeId, ...runtimeOptions } = options;
  const version = new IsolateRuntime(runtimeOptions).install(compileConfig(parsed.config, "v1"));
  const route = routeId === undefined ? version.snapshot.routes[0] : version.snapshot.routes.find((r) => r.id === routeId);
  if (route === undefined) throw new Error(`no route ${routeId ?? "(first)"} in the test config`);
  const runtime = version.routes[route.index] as RouteRuntime;
  return {
    route,
    runtime,
    cluster: route.cluster,
    clusterRuntime: runtime.cluster,
    version,
    vars: { route, routeRuntime: runtime, cluster: route.cluster, clusterRuntime: runtime.cluster },
  };
}

/** A fresh route or cluster name: isolate counters and Durable Objects outlive a test. */
export function freshName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The gateway's error answer, as src/index.ts gives it. */
export const answerStageError: ErrorHandler<AppEnv> = (error, c) => answerError(error, c.get("requestId"));

/** `c.var` values for the stage, fixed or computed per request. */
export type StageVars = Partial<Variables> | ((c: Context<AppEnv>) => Partial<Variables>);

function randomHex(length: number): string {
  let hex = "";
  while (hex.length < length) hex += crypto.randomUUID().replaceAll("-", "");
  return hex.slice(0, length);
}

/** What match-route would put on `c.var` for the request's URL: host, authority, path (taken as normalized) and no route params. */
export function targetVars(c: Context<AppEnv>): Pick<Variables, "host" | "authority" | "normalizedPath" | "routeParams"> {
  const url = new URL(c.req.url);
  return { host: url.hostname, authority: url.host, normalizedPath: url.pathname, routeParams: {} };
}

/**
 * What the stages before any stage put on `c.var` (a fresh record, request id and trace), then
 * `vars`. Nothing else is set: a stage that reads a value the test did not give sees it unset.
 */
export function earlierStages(vars: StageVars): MiddlewareHandler<AppEnv> {
  return async function earlierStages(c, next) {
    c.set("record", newRequestRecord(c.req.method, Date.now()));
    c.set("requestId", crypto.randomUUID());
    c.set("traceparent", `00-${randomHex(32)}-${randomHex(16)}-01`);
    c.set("tracestate", null);
    for (const [name, value] of Object.entries(typeof vars === "function" ? vars(c) : vars)) {
      c.set(name as keyof Variables, value as never);
    }
    await next();
  };
}

/** Stands in for the stages after the one under test: counts its calls and keeps `c.var` as each call saw it. */
export interface LaterStages {
  handler: Handler<AppEnv>;
  readonly calls: number;
  readonly seen: Variables[];
}

/** Later stages that answer with `answer` (default: 200 "from later stages"). */
export function laterStages(
  answer: (c: Context<AppEnv>, call: number) => Response | Promise<Response> = () => new Response("from later stages"),
): LaterStages {
  const seen: Variables[] = [];
  return {
    seen,
    get calls() {
      return seen.length;
    },
    handler: async function later(c) {
      seen.push({ ...c.var });
      return answer(c, seen.length);
    },
  };
}

/** A Hono app of `earlierStages(vars)`, the stage, and `later` (default: a plain 200), answering errors as the gateway does. */
export function stageApp(
  stage: MiddlewareHandler<AppEnv>,
  vars: StageVars = {},
  later: Handler<AppEnv> = laterStages().handler,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(earlierStages(vars));
  app.use(stage);
  app.all("*", later);
  app.onError(answerStageError);
  return app;
}

/** `stageApp` over route `routed`, keeping the request record each request was given, in order. */
export function recordingStageApp(
  stage: MiddlewareHandler<AppEnv>,
  routed: StageRoute,
  later: Handler<AppEnv>,
  vars: (c: Context<AppEnv>) => Partial<Variables> = () => ({}),
): { app: Hono<AppEnv>; records: RequestRecord[] } {
  const records: RequestRecord[] = [];
  const app = stageApp(
    stage,
    (c) => {
      const record = newRequestRecord(c.req.method, Date.now());
      records.push(record);
      return { ...routed.vars, ...vars(c), record };
    },
    later,
  );
  return { app, records };
}

/** An ExecutionContext that keeps what is handed to waitUntil, so a test can wait for the background work. */
export class BackgroundWork implements ExecutionContext {
  readonly props = {};
  readonly #pending: Promise<unknown>[] = [];

  waitUntil(promise: Promise<unknown>): void {
    this.#pending.push(promise);
  }

  passThroughOnException(): void {}

  /** Resolves once all work handed over so far, and any it hands on, has settled. */
  async settled(): Promise<void> {
    while (this.#pending.length > 0) await Promise.allSettled(this.#pending.splice(0));
  }
}

/** Sends a request for `path` on the stage host (or for an absolute URL) to `app`; `work` collects its background work. */
export function send(
  app: Hono<AppEnv>,
  path: string,
  init: RequestInit,
  env: AppEnv["Bindings"],
  work: BackgroundWork = new BackgroundWork(),
): Promise<Response> {
  const url = path.startsWith("http") ? path : `http://${STAGE_HOST}${path}`;
  return Promise.resolve(app.request(url, init, env, work));
}
