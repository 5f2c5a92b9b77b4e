/**
 * `custom`: a user's policy module (policies/<name>.ts, bundled with the deployment), adapted to the
 * pipeline. The user's function sees the request as the contract says (contract.ts); what it
 * returns becomes an outcome the policy stages apply. Whatever it throws or returns that the
 * contract does not allow becomes a PolicyFailure, which the stage answers as a 500 of its own type
 * and logs under the policy's name.
 */
import { foldedName } from "../headers.ts";
import type { Identity } from "../identity.ts";
import { type LogLevel, log } from "../log.ts";
import type { OutboundContext, PolicyCaller, PolicyContext, PolicyModule } from "./contract.ts";
import type { CompiledPolicy, InboundOutcome, OutboundOutcome, PolicyRequest, RequestEdits } from "./types.ts";

/** A user policy broke its contract: thrown, or returned something it may not. `cause` is for the log only. */
export class PolicyFailure extends Error {
  readonly policy: string;
  override readonly cause: unknown;

  constructor(policy: string, message: string, cause?: unknown) {
    super(message);
    this.name = "PolicyFailure";
    this.policy = policy;
    this.cause = cause;
  }
}

/** The user policy modules a deployment bundles, by name. */
export type CustomPolicyModules = ReadonlyMap<string, PolicyModule>;

/** Which ways a bundled module acts: what validation checks a config's lists against. */
export function customDirections(module: PolicyModule): { inbound: boolean; outbound: boolean } {
  return { inbound: typeof module.inbound === "function", outbound: typeof module.outbound === "function" };
}

function callerOf(identity: Identity | undefined): PolicyCaller | undefined {
  if (identity === undefined) return undefined;
  const { method, subject, consumer, scopes, claims } = identity;
  return { method, subject, consumer, scopes, claims };
}

function contextOf(name: string, options: unknown, at: PolicyRequest): PolicyContext {
  return {
    policy: { name, options },
    route: { id: at.routeId, params: at.params },
    caller: callerOf(at.identity),
    clientIp: at.clientIp,
    requestId: at.requestId,
    env: at.env,
    waitUntil: at.waitUntil,
    log: (level: LogLevel, event: string, fields: Record<string, unknown> = {}) =>
      log({ ...fields, level, event, policy: name, requestId: at.requestId }),
  };
}

/** The request as a user policy sees it: method, URL and a copy of the headers; the body stays the gateway's. */
function viewOf(request: Request): Request {
  return new Request(request.url, { method: request.method, headers: new Headers(request.headers) });
}

/** What a returned Request changes of the headers the policy was shown, as edits of the upstream request. */
function editsBetween(shown: Headers, returned: Headers): RequestEdits {
  const set: Array<[string, string]> = [];
  const remove: string[] = [];
  for (const [name, value] of returned) {
    if (shown.get(name) !== value) set.push([name, value]);
  }
  for (const name of shown.keys()) {
    if (!returned.has(name)) remove.push(foldedName(name));
  }
  return { set, remove };
}

async function runInbound(name: string, module: PolicyModule, options: unknown, at: PolicyRequest): Promise<InboundOutcome> {
  const inbound = module.inbound as NonNullable<PolicyModule["inbound"]>;
  const shown = viewOf(at.request);
  const before = new Headers(shown.headers);
  let result: unknown;
  try {
    result = await inbound(shown, contextOf(name, options, at));
  } catch (error) {
    throw new PolicyFailure(name, "threw", error);
  }
  if (result === undefined) {
    // Edited in place: what changed on the request it was shown goes upstream.
    const edits = editsBetween(before, shown.headers);
    return edits.set.length + edits.remove.length === 0
      ? { kind: "continue", decision: "continued" }
      : { kind: "continue", decision: "edited", editRequest: edits };
  }
  if (result instanceof Response) return { kind: "respond", decision: "responded", response: result };
  if (result instanceof Request) {
    if (result.method !== at.request.method || result.url !== at.request.url) {
      throw new PolicyFailure(name, "returned a request with another method or URL, which a policy may not change");
    }
    return { kind: "continue", decision: "edited", editRequest: editsBetween(before, result.headers) };
  }
  throw new PolicyFailure(
    name,
    `returned ${typeof result === "object" ? "an object" : typeof result} where a Request, a Response or nothing is allowed`,
  );
}

async function runOutbound(
  name: string,
  module: PolicyModule,
  options: unknown,
  at: Parameters<NonNullable<CompiledPolicy["outbound"]>>[0],
): Promise<OutboundOutcome> {
  const outbound = module.outbound as NonNullable<PolicyModule["outbound"]>;
  const context: OutboundContext = { ...contextOf(name, options, at), request: viewOf(at.request) };
  let result: unknown;
  try {
    result = await outbound(at.response, context);
  } catch (error) {
    throw new PolicyFailure(name, "threw", error);
  }
  if (result === undefined) return { decision: "continued" };
  if (result instanceof Response) return { decision: "replaced", response: result };
  throw new PolicyFailure(
    name,
    `returned ${typeof result === "object" ? "an object" : typeof result} where a Response or nothing is allowed`,
  );
}

/** A user module as a compiled policy: inbound steps run late, with the caller known. */
export function compileCustom(
  name: string,
  module: PolicyModule,
  options: unknown,
): Pick<CompiledPolicy, "phase" | "inbound" | "outbound"> {
  const directions = customDirections(module);
  return {
    phase: directions.inbound ? "late" : null,
    inbound: directions.inbound ? (at) => runInbound(name, module, options, at) : null,
    outbound: directions.outbound ? (at) => runOutbound(name, module, options, at) : null,
  };
}
