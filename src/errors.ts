/**
 * The gateway's one error vocabulary. Every response the gateway makes itself is an RFC 9457
 * problem document built here, from a closed set of codes; nothing else writes error bodies.
 */
import { errorFields, log } from "./lib/log.ts";

const PROBLEMS = {
  "bad-request": { status: 400, title: "Bad request" },
  "invalid-path": { status: 400, title: "Invalid request path" },
  "invalid-host": { status: 400, title: "Invalid Host header" },
  "body-not-allowed": { status: 400, title: "This method takes no request body" },
  "incomplete-body": { status: 400, title: "Request body incomplete" },
  "route-not-found": { status: 404, title: "No route matches this request" },
  "cluster-not-found": { status: 404, title: "No such cluster" },
  "not-found": { status: 404, title: "No such resource" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Insufficient scope" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  "request-timeout": { status: 408, title: "Request body not received in time" },
  "idempotency-conflict": { status: 409, title: "A request with this Idempotency-Key is still in progress" },
  "precondition-failed": { status: 412, title: "The config changed since you read it" },
  "payload-too-large": { status: 413, title: "Request body too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "invalid-config": { status: 422, title: "Invalid configuration" },
  "idempotency-key-reused": { status: 422, title: "Idempotency-Key already used for a different request" },
  "precondition-required": { status: 428, title: "Precondition required" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "internal-error": { status: 500, title: "Internal gateway error" },
  "upstream-unavailable": { status: 502, title: "Upstream unavailable" },
  "upstream-invalid-response": { status: 502, title: "Invalid upstream response" },
  "config-unavailable": { status: 503, title: "Gateway configuration unavailable" },
  "auth-unavailable": { status: 503, title: "Authentication temporarily unavailable" },
  "rate-limit-unavailable": { status: 503, title: "Rate limiting temporarily unavailable" },
  "no-healthy-upstream": { status: 503, title: "No healthy upstream" },
  "idempotency-unavailable": { status: 503, title: "Idempotency keys cannot be checked right now" },
  // A metrics shard did not answer: a partial sum would read as a counter reset, so the scrape fails instead.
  "metrics-unavailable": { status: 503, title: "Fleet metrics temporarily unavailable" },
  "upstream-overloaded": { status: 503, title: "Upstream overloaded" },
  "upstream-timeout": { status: 504, title: "Upstream timed out" },
  // A route's terminate policy answered (maintenance, a brownout share); its config may set the status.
  terminated: { status: 503, title: "The route is not serving requests right now" },
  // A user's policy threw or returned something it may not: a fault of the deployment's own code.
  "policy-failed": { status: 500, title: "A policy of this route failed" },
  // An ip-filter policy refused the caller's address.
  "address-forbidden": { status: 403, title: "Requests from this address are not allowed on this route" },
  // A WebSocket handshake on a route without a websocket block (Envoy answers 403 for an upgrade its route does not allow).
  "websocket-not-enabled": { status: 403, title: "This route does not accept WebSocket upgrades" },
  // The target answered a WebSocket handshake with anything but 101, or could not be reached.
  "websocket-refused": { status: 502, title: "The upstream refused the WebSocket upgrade" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** Stable problem type URIs: `urn:edgegate:problem:<code>`, listed in the README. */
function problemType(code: ProblemCode): string {
  return `urn:edgegate:problem:${code}`;
}

/** An error the gateway answers with a problem document. `detail` must be safe to show a client. */
export class GatewayError extends Error {
  readonly code: ProblemCode;
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;
  /** RFC 9457 extension members (e.g. `issues` of an invalid config); must be safe to show a client. */
  readonly extensions: Record<string, unknown> | undefined;

  constructor(code: ProblemCode, detail?: string, headers: Record<string, string> = {}, extensions?: Record<string, unknown>) {
    super(detail ?? PROBLEMS[code].title);
    this.name = "GatewayError";
    this.code = code;
    this.detail = detail;
    this.headers = headers;
    this.extensions = extensions;
  }
}

/**
 * Renders a problem+json response. Never includes stacks, upstream addresses or exception text.
 * `status` replaces the code's own only where a config sets it (a terminate policy's answer).
 */
export function problemResponse(
  code: ProblemCode,
  requestId: string,
  detail?: string,
  headers: Record<string, string> = {},
  extensions?: Record<string, unknown>,
  status: number = PROBLEMS[code].status,
): Response {
  const { title } = PROBLEMS[code];
  const body: Record<string, unknown> = { ...extensions, type: problemType(code), title, status };
  if (detail !== undefined) body.detail = detail;
  body.requestId = requestId;
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...headers,
      "content-type": "application/problem+json",
      "cache-control": "no-store",
      "x-request-id": requestId,
    },
  });
}

/**
 * Whatever a stage threw, as the client's answer: a GatewayError's problem document, anything else
 * a gateway bug, logged for the operator and answered with an opaque 500 that tells the client
 * nothing about it. The app's error handler (src/index.ts), and only it, calls this.
 */
export function answerError(error: unknown, requestId: string | undefined): Response {
  const id = requestId ?? crypto.randomUUID();
  if (error instanceof GatewayError) return problemResponse(error.code, id, error.detail, error.headers, error.extensions);
  log({ level: "error", event: "gateway.unhandled", requestId: id, error: errorFields(error) });
  return problemResponse("internal-error", id);
}
