/**
 * `custom`: a user's policy module (policies/<name>.ts, bundled with the deployment), adapted to the
 * pipeline. The user's function sees the request as the contract says (contract.ts); what it
 * returns becomes an outcome the policy stages apply. Whatever it throws or returns that the
 * contract does not allow, and a call that does not finish in time, becomes a PolicyFailure, which
 * the stage answers as a 500 of its own type and logs under the policy's name.
 */
import { foldedName } from "../headers.ts";
import type { Identity } from "../identity.ts";
import { type LogLevel, log } from "../log.ts";
import type { OutboundContext, PolicyCaller, PolicyContext, PolicyModule } from "./contract.ts";
import type { CompiledPolicy, InboundOutcome, OutboundOutcome, PolicyRequest, PolicyResponse, RequestEdits } from "./types.ts";

/**
 * How long one call of a user policy may take unless its instance says otherwise. A call that
 * never settles would otherwise hold the client until it gives up (or, with no I/O pending, end in
 * the platform's own error instead of the gateway's): header checks take microseconds, and a policy
 * that awaits a service of its own sets `timeoutMs` for it.
 */
export const DEFAULT_POLICY_TIMEOUT_MS = 5_000;

/** A user policy broke its contract: thrown, returned something it may not, or did not finish in time. `cause` is for the log only. */
export class PolicyFailure extends Error {
  readonly policy: string;
  override readonly cause: unknown;
  /** Whether user code threw (`cause` is what it threw, undefined included). */
  readonly threw: boolean;

  constructor(policy: string, message: string, ...thrown: [cause?: unknown]) {
    super(message);
    this.name = "PolicyFailure";
    this.policy = policy;
    this.cause = thrown[0];
    this.threw = thrown.length > 0;
  }
}

/** The user policy modules a deployment bundles, by name. */
export type CustomPolicyModules = ReadonlyMap<string, PolicyModule>;

/** Which ways a bundled module acts: what validation checks a config's lists against. */
export function customDirections(module: PolicyModule): { inbound: boolean; outbound: boolean } {
  return { inbound: typeof module.inbound === "function", outbound: typeof module.outbound === "function" };
}

/** The longest text of a thrown value the log keeps: user code may throw anything, of any size. */
const MAX_LOGGED_CHARS = 4_096;

function clipped(text: string): string {
  return text.length > MAX_LOGGED_CHARS ? `${text.slice(0, MAX_LOGGED_CHARS)}... (${text.length} characters)` : text;
}

/**
 * What user code threw, for the log: an Error's name, message and stack; anything else as JSON or
 * its string. Never throws itself, whatever the value (an object without a prototype, a getter or
 * toString that throws), so a failure is always answered and logged.
 */
export function thrownFields(value: unknown): { name: string; message: string; stack: string | undefined } | string {
  try {
    if (value instanceof Error) {
      return { name: String(value.name), message: clipped(String(value.message)), stack: value.stack && clipped(String(value.stack)) };
    }
    if (typeof value === "string") return clipped(value);
    if (typeof value === "object" && value !== null) {
      try {
        const json = JSON.stringify(value);
        if (json !== undefined) return clipped(json);
      } catch {
        // Circular or unserializable: its string below.
      }
    }
    return clipped(String(value));
  } catch {
    return `(a thrown ${typeof value} that cannot be printed)`;
  }
}

/** A failure's fields in its `policy.failed` log line: what broke, and what user code threw, if it threw. */
export function failureFields(failure: PolicyFailure): { reason: string; error?: ReturnType<typeof thrownFields> } {
  return failure.threw ? { reason: failure.message, error: thrownFields(failure.cause) } : { reason: failure.message };
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
    // Work handed over here outlives the answer: its failure is logged under the policy's name,
    // not left to surface as an unhandled rejection without one.
    waitUntil: (work: Promise<unknown>) => {
      at.waitUntil(
        Promise.resolve(work).catch((error: unknown) =>
          log({ level: "error", event: "policy.background-failed", policy: name, requestId: at.requestId, error: thrownFields(error) }),
        ),
      );
    },
    log: (level: LogLevel, event: string, fields: Record<string, unknown> = {}) =>
      log({ ...fields, level, event, policy: name, requestId: at.requestId }),
  };
}

/** The request as a user policy sees it: method, URL and a copy of the headers; the body stays the gateway's. */
function viewOf(request: Request): Request {
  return new Request(request.url, { method: request.method, headers: new Headers(request.headers) });
}

/**
 * The client's body goes upstream as it came, and the runtime holds it to the length this field
 * declares: a policy's value would break the request, so its edits of this one are passed over.
 */
const BODY_LENGTH = "content-length";

/**
 * What a returned Request changes of the headers the policy was shown, as edits of the upstream
 * request. A field the policy set, changed or removed is the policy's in every spelling: the
 * client's copies of it go, underscore spellings included (an origin that reads x_tenant_id as
 * X-Tenant-Id must not get a client's x_tenant_id beside the policy's X-Tenant-Id), and what goes
 * upstream for it is what the policy's request has: the values it wrote, and its untouched copy
 * in the plain spelling, if any.
 */
function editsBetween(shown: Headers, returned: Headers): RequestEdits {
  const written: Array<[string, string]> = [];
  const affected = new Set<string>();
  for (const [name, value] of returned) {
    if (shown.get(name) !== value && foldedName(name) !== BODY_LENGTH) {
      written.push([name, value]);
      affected.add(foldedName(name));
    }
  }
  for (const name of shown.keys()) {
    if (!returned.has(name) && foldedName(name) !== BODY_LENGTH) affected.add(foldedName(name));
  }
  const kept: Array<[string, string]> = [];
  for (const [name, value] of returned) {
    if (affected.has(name) && shown.get(name) === value) kept.push([name, value]);
  }
  return { set: [...kept, ...written], remove: [...affected] };
}

/** A value a policy returned, as a log message names it. */
function described(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  return `a ${typeof value}`;
}

/** Whether a response's body is already read, or being read: the gateway can no longer send it. */
function bodyGone(response: Response): boolean {
  return response.bodyUsed || response.body?.locked === true;
}

/**
 * Calls user code with a deadline. Whatever it throws becomes a PolicyFailure; a call still running
 * at the deadline is answered as failed, and what it does afterwards is ignored (its result and
 * its rejection alike: the race handles both).
 */
async function callUser<T>(name: string, timeoutMs: number, call: () => T | Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PolicyFailure(name, `did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const running = (async () => {
      try {
        return await call();
      } catch (error) {
        throw new PolicyFailure(name, "threw", error);
      }
    })();
    return await Promise.race([running, deadline]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

async function runInbound(
  name: string,
  module: PolicyModule,
  options: unknown,
  timeoutMs: number,
  at: PolicyRequest,
): Promise<InboundOutcome> {
  const inbound = module.inbound as NonNullable<PolicyModule["inbound"]>;
  const shown = viewOf(at.request);
  const before = new Headers(shown.headers);
  const context = contextOf(name, options, at);
  const result: unknown = await callUser(name, timeoutMs, () => inbound(shown, context));
  if (result === undefined) {
    // Edited in place: what changed on the request it was shown goes upstream.
    const edits = editsBetween(before, shown.headers);
    return edits.set.length + edits.remove.length === 0
      ? { kind: "continue", decision: "continued" }
      : { kind: "continue", decision: "edited", editRequest: edits };
  }
  if (result instanceof Response) {
    if (bodyGone(result)) throw new PolicyFailure(name, "returned a Response whose body was already read");
    return { kind: "respond", decision: "responded", response: result };
  }
  if (result instanceof Request) {
    if (result.method !== at.request.method || result.url !== at.request.url) {
      throw new PolicyFailure(name, "returned a request with another method or URL, which a policy may not change");
    }
    // The client's body goes upstream as it came; a policy that meant to replace it must not pass silently.
    if (result.body !== null) throw new PolicyFailure(name, "returned a request with a body, which a policy may not change");
    const edits = editsBetween(before, result.headers);
    return edits.set.length + edits.remove.length === 0
      ? { kind: "continue", decision: "continued" }
      : { kind: "continue", decision: "edited", editRequest: edits };
  }
  throw new PolicyFailure(name, `returned ${described(result)} where a Request, a Response or nothing (undefined) is allowed`);
}

async function runOutbound(
  name: string,
  module: PolicyModule,
  options: unknown,
  timeoutMs: number,
  at: PolicyResponse,
): Promise<OutboundOutcome> {
  const outbound = module.outbound as NonNullable<PolicyModule["outbound"]>;
  const context: OutboundContext = { ...contextOf(name, options, at), request: viewOf(at.request) };
  const result: unknown = await callUser(name, timeoutMs, () => outbound(at.response, context));
  if (result === undefined || result === at.response) {
    // Keeping a response whose body it read would send the client its headers and no body (or a
    // broken one): a mistake in the policy, answered as one, never passed on as a truncated answer.
    if (bodyGone(at.response)) {
      throw new PolicyFailure(name, "read the response body and returned no new Response: the body it read is gone");
    }
    return { decision: "continued" };
  }
  if (result instanceof Response) {
    if (bodyGone(result)) throw new PolicyFailure(name, "returned a Response whose body was already read");
    return { decision: "replaced", response: result };
  }
  throw new PolicyFailure(name, `returned ${described(result)} where a Response or nothing (undefined) is allowed`);
}

/** A step that fails every call: where a listed policy's module cannot act. */
function unable(name: string, reason: string): () => Promise<never> {
  return () => Promise.reject(new PolicyFailure(name, reason));
}

/**
 * A user module as a compiled policy: inbound steps run late, with the caller known; each call of
 * the user's function has `timeoutMs` to finish. A direction the module does not act in, or a
 * module the deployment does not bundle (`undefined`), compiles to a step that fails, not to none:
 * validation refuses such a config wherever the deployment is known, and should one be compiled
 * all the same, a route that lists the policy (a tenant check, a redaction) answers 500 rather
 * than run without it.
 */
export function compileCustom(
  name: string,
  module: PolicyModule | undefined,
  options: unknown,
  timeoutMs: number = DEFAULT_POLICY_TIMEOUT_MS,
): Pick<CompiledPolicy, "phase" | "inbound" | "outbound"> {
  if (module === undefined) {
    const missing = unable(name, "names a module this deployment does not bundle");
    return { phase: "late", inbound: missing, outbound: missing };
  }
  const directions = customDirections(module);
  return {
    phase: "late",
    inbound: directions.inbound
      ? (at) => runInbound(name, module, options, timeoutMs, at)
      : unable(name, "is listed inbound, but its module exports no inbound function"),
    outbound: directions.outbound
      ? (at) => runOutbound(name, module, options, timeoutMs, at)
      : unable(name, "is listed outbound, but its module exports no outbound function"),
  };
}
