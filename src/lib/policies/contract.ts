/**
 * The contract of a user policy: what `policies/<name>.ts` exports, and what the gateway hands it.
 * Import the types from here (`import type { InboundPolicy } from "../src/lib/policies/contract.ts"`);
 * docs/policies/custom.md is the guide.
 *
 * A module exports `inbound`, `outbound` or both (named exports):
 * - `inbound(request, context)` runs after authentication and rate limiting, just before the
 *   request heads upstream. `request` has the client's method, URL and headers (not its body, which
 *   streams to the upstream untouched). Return nothing to go on (with the headers you changed on
 *   `request`, if any), a `Request` with other headers to send those upstream instead (its method
 *   and URL must stay as they are, and it has no body), or a `Response` to answer the client now
 *   without calling the upstream. A field you set, change or remove is yours in every spelling:
 *   the client's copies of it (x_tenant_id for X-Tenant-Id too) do not go upstream. The gateway's
 *   own fields (X-Forwarded-*, Forwarded, X-Real-IP, X-Request-Id, traceparent, X-Edgegate-*),
 *   the platform's (CF-*), hop-by-hop ones, forwarded claims and Content-Length (the body's) are
 *   set by the gateway whatever the policy says.
 * - `outbound(response, context)` runs on the response on its way to the client: return nothing to
 *   send it as it is (or with the headers you changed on it), or a new `Response` to send instead.
 *   Read its body only to return a new one: a body read is gone, and returning nothing after reading
 *   it is a failure (below), never a response without its body.
 *
 * A policy that throws (anything), returns anything else, returns a Response whose body was read,
 * or does not finish within its instance's `timeoutMs` (5 s unless set) answers the client with a
 * 500 problem of type `urn:edgegate:problem:policy-failed`; what happened goes to the log
 * (`policy.failed`, with the policy's name, the message and the stack), never to the client.
 */

/** The verified caller, on routes with `auth`. */
export interface PolicyCaller {
  /** How the caller proved who it is. */
  method: "jwt" | "api-key";
  /** The JWT `sub`, or the API key's consumer. */
  subject: string | null;
  /** The API key's consumer; null for JWTs. */
  consumer: string | null;
  scopes: ReadonlySet<string>;
  /** The verified JWT claims; for an API key, `sub` and `scope`. */
  claims: Readonly<Record<string, unknown>>;
}

export interface PolicyContext {
  /** The policy instance: its name in the config's `policies` map and its `options`, as written there. */
  policy: { name: string; options: unknown };
  route: { id: string; params: Readonly<Record<string, string>> };
  /** Undefined on a route without `auth`. */
  caller: PolicyCaller | undefined;
  /** From CF-Connecting-IP; null where the platform gave none. */
  clientIp: string | null;
  requestId: string;
  /** The deployment's bindings (secrets, KV, services): `context.env.MY_SECRET`. */
  env: Readonly<Record<string, unknown>>;
  /** Work that may outlive the response (ctx.waitUntil); its failure is logged as `policy.background-failed`. */
  waitUntil(work: Promise<unknown>): void;
  /** One structured log line, with the policy's name and the request id added. */
  log(level: "debug" | "info" | "warn" | "error", event: string, fields?: Record<string, unknown>): void;
}

export interface OutboundContext extends PolicyContext {
  /** The request this response answers (method, URL, headers). */
  request: Request;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a policy with nothing to change returns nothing, which TypeScript types as void.
type Nothing = undefined | void;

export type InboundPolicy = (
  request: Request,
  context: PolicyContext,
) => Request | Response | Nothing | Promise<Request | Response | Nothing>;

export type OutboundPolicy = (response: Response, context: OutboundContext) => Response | Nothing | Promise<Response | Nothing>;

/** What `policies/<name>.ts` exports. */
export interface PolicyModule {
  inbound?: InboundPolicy;
  outbound?: OutboundPolicy;
}
