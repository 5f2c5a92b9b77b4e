/**
 * The route's policies (src/lib/policies/), in the order its lists give. Two stages:
 * - `policies`, right after the route is matched: the early inbound policies (CORS preflights, IP
 *   filters, maintenance answers), which may answer before any credential is asked for; then, around
 *   everything after it, the outbound policies and the response edits the early ones asked for, on
 *   whatever response the client gets (an upstream's, a replay, or the gateway's own problem).
 * - `latePolicies`, after rate limiting: the late inbound policies (header edits, user policies),
 *   with the caller known; their edits of the upstream request go on `c.var.policyEdits`.
 * A route without policies costs each stage one check. A user policy that breaks its contract is
 * answered as a 500 of its own type and logged under its name.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { answerError, GatewayError } from "../../errors.ts";
import type { HeaderPairs } from "../../lib/headers.ts";
import { log } from "../../lib/log.ts";
import { count, metricKey } from "../../lib/metrics.ts";
import { failureFields, PolicyFailure } from "../../lib/policies/custom.ts";
import type { CompiledPolicy, InboundOutcome, OutboundOutcome, PolicyRequest } from "../../lib/policies/types.ts";
import type { RequestRecord } from "../../lib/request-record.ts";
import type { AppEnv } from "../../variables.ts";

type PolicyContext = Context<AppEnv>;

function policyRequest(c: PolicyContext): PolicyRequest {
  return {
    request: c.req.raw,
    clientIp: c.req.raw.headers.get("cf-connecting-ip"),
    requestId: c.get("requestId"),
    routeId: c.get("route").id,
    params: c.get("routeParams"),
    identity: c.get("identity"),
    env: c.env as unknown as Readonly<Record<string, unknown>>,
    waitUntil: (work) => c.executionCtx.waitUntil(work),
  };
}

/**
 * `policy_decisions_total{route,policy,decision}` keys, rendered on first use. Module scope is safe:
 * routes and policy names come from the config and decisions are the policies' own words (a closed
 * set per policy kind), so the map is bounded by the config like the counters themselves.
 */
const decisionKeys = new Map<string, string>();

function decided(record: RequestRecord, policy: CompiledPolicy, decision: string): void {
  if (record.policies === null) record.policies = [];
  record.policies.push([policy.name, decision]);
  const route = record.routeId ?? "-";
  const id = `${route}\n${policy.name}\n${decision}`;
  let key = decisionKeys.get(id);
  if (key === undefined) {
    key = metricKey("policy_decisions_total", { route, policy: policy.name, decision });
    decisionKeys.set(id, key);
  }
  count(key);
}

/** A user policy's failure as the client's answer: a problem of its own type, the details in the log only. */
function failed(policy: CompiledPolicy, error: unknown, record: RequestRecord, requestId: string): GatewayError {
  decided(record, policy, "failed");
  const failure = error instanceof PolicyFailure ? error : new PolicyFailure(policy.name, "threw", error);
  // failureFields never throws, whatever user code threw: the client is answered in any case.
  log({ level: "error", event: "policy.failed", policy: policy.name, requestId, ...failureFields(failure) });
  return new GatewayError("policy-failed", `The route's policy '${policy.name}' failed.`);
}

async function runInbound(policy: CompiledPolicy, at: PolicyRequest, record: RequestRecord): Promise<InboundOutcome> {
  try {
    const outcome = await (policy.inbound as NonNullable<CompiledPolicy["inbound"]>)(at);
    decided(record, policy, outcome.decision);
    return outcome;
  } catch (error) {
    throw failed(policy, error, record, at.requestId);
  }
}

/**
 * The response with headers this stage can edit, the gateway's request id on it: a Response made
 * elsewhere (a user policy's, say) may have immutable headers, and is re-wrapped then.
 */
function editable(response: Response, requestId: string): Response {
  try {
    response.headers.set("x-request-id", requestId);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set("x-request-id", requestId);
    return copy;
  }
}

/** Sets the response outright: Hono's setter would otherwise merge the old one's headers in. */
function replaceResponse(c: PolicyContext, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/** The response edits the inbound policies asked for, then the outbound policies, on the response the client gets. */
async function finish(
  c: PolicyContext,
  outbound: readonly CompiledPolicy[],
  edits: ReadonlyArray<(headers: Headers) => void>,
): Promise<void> {
  const requestId = c.get("requestId");
  let response = editable(c.res, requestId);
  for (const edit of edits) edit(response.headers);
  const record = c.get("record");
  for (const policy of outbound) {
    let outcome: OutboundOutcome;
    try {
      outcome = await (policy.outbound as NonNullable<CompiledPolicy["outbound"]>)({ ...policyRequest(c), response });
    } catch (error) {
      await response.body?.cancel().catch(() => {});
      response = answerError(failed(policy, error, record, requestId), requestId);
      break;
    }
    decided(record, policy, outcome.decision);
    if (outcome.response !== undefined && outcome.response !== response) {
      // The policy answered anew: the answer it replaced is not read any further.
      if (!response.bodyUsed) await response.body?.cancel().catch(() => {});
      response = editable(outcome.response, requestId);
    }
  }
  // The request id is the gateway's, whatever a policy did to the headers.
  response.headers.set("x-request-id", requestId);
  replaceResponse(c, response);
}

/** Runs `chain` inbound, in order; returns the answer one of them gave, or the response edits they asked for. */
async function inbound(
  chain: readonly CompiledPolicy[],
  at: PolicyRequest,
  record: RequestRecord,
  editRequest: ((edits: NonNullable<Extract<InboundOutcome, { kind: "continue" }>["editRequest"]>) => void) | null,
): Promise<{ answer: Response | null; edits: Array<(headers: Headers) => void> }> {
  const edits: Array<(headers: Headers) => void> = [];
  for (const policy of chain) {
    const outcome = await runInbound(policy, at, record);
    if (outcome.kind === "respond") return { answer: outcome.response, edits };
    if (outcome.editResponse !== undefined) edits.push(outcome.editResponse);
    if (outcome.editRequest !== undefined) editRequest?.(outcome.editRequest);
  }
  return { answer: null, edits };
}

export const policies = createMiddleware<AppEnv>(async function policies(c, next) {
  const chain = c.get("route").policies;
  if (chain === null) return next();
  const { answer, edits } = chain.early.length > 0 ? await inbound(chain.early, policyRequest(c), c.get("record"), null) : NO_EARLY;
  if (answer !== null) replaceResponse(c, answer);
  else await next();
  if (edits.length > 0 || chain.outbound.length > 0) await finish(c, chain.outbound, edits);
});

const NO_EARLY = { answer: null, edits: [] } as const;

export const latePolicies = createMiddleware<AppEnv>(async function latePolicies(c, next) {
  const chain = c.get("route").policies;
  if (chain === null || chain.late.length === 0) return next();
  const set: HeaderPairs = [];
  const remove = new Set<string>();
  const { answer, edits } = await inbound(chain.late, policyRequest(c), c.get("record"), (edit) => {
    for (const name of edit.remove) remove.add(name);
    for (const pair of edit.set) set.push(pair);
  });
  if (answer !== null) {
    replaceResponse(c, editable(answer, c.get("requestId")));
    return;
  }
  if (set.length > 0 || remove.size > 0) c.set("policyEdits", { set, remove });
  await next();
  if (edits.length > 0) await finish(c, [], edits);
});
