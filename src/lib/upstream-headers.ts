/**
 * The request headers one request carries upstream, from what the stages before the proxy decided.
 * The proxy sends them; coalescing decides on them whether two requests are the same read. Both
 * build them here, so the request a shared answer is judged on is the request the origin saw.
 */
import type { CompiledAuth } from "./auth/config.ts";
import { type HeaderPairs, upstreamRequestHeaders } from "./headers.ts";

/** What of a compiled route decides its upstream headers. */
export interface HeaderRules {
  allowHeaders: ReadonlySet<string> | null;
  auth: Pick<CompiledAuth, "stripHeaders" | "stripCookie"> | null;
}

/** What the earlier stages put on the request (route, identity, request id, trace context). */
export interface UpstreamHeaderInputs {
  route: HeaderRules;
  /** The Host the client asked for, as validated and routed on (with its port, if any). */
  authority: string;
  /** The claim headers authenticate forwards; undefined when none. */
  identityHeaders: HeaderPairs | undefined;
  /** The edits the route's policies made to the upstream request; undefined when none. */
  policyEdits: { set: HeaderPairs; remove: ReadonlySet<string> } | undefined;
  requestId: string;
  traceparent: string;
  tracestate: string | null;
}

/** The headers the upstream gets for `request`: the client's, filtered and edited by the route's rules. */
export function upstreamHeadersFor(request: Request, inputs: UpstreamHeaderInputs): Headers {
  const url = request.url;
  const auth = inputs.route.auth;
  return upstreamRequestHeaders(
    request.headers,
    {
      ip: request.headers.get("cf-connecting-ip"),
      proto: url.startsWith("https:") ? "https" : "http",
      host: inputs.authority,
    },
    {
      allow: inputs.route.allowHeaders,
      strip: auth?.stripHeaders ?? null,
      stripCookie: auth?.stripCookie ?? null,
      extra: inputs.identityHeaders ?? null,
      policy: inputs.policyEdits ?? null,
      requestId: inputs.requestId,
      traceparent: inputs.traceparent,
      tracestate: inputs.tracestate,
    },
  );
}
