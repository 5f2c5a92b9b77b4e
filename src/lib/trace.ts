/**
 * Request identity: X-Request-Id and W3C Trace Context (https://www.w3.org/TR/trace-context/).
 */

/** A client's X-Request-Id is kept if it is short, visible ASCII; anything else is replaced. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** traceparent, version 00 layout; later versions must still start with these fields (spec 4.3). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * 16 random hex digits from the native UUID generator (cheaper than a byte loop in JS); the parts
 * taken hold no fixed version or variant digit.
 */
function randomSpanId(): string {
  const uuid = crypto.randomUUID();
  return uuid.slice(0, 8) + uuid.slice(24, 32);
}

/** The client's request id if acceptable, otherwise a fresh UUID. */
export function requestIdFrom(clientValue: string | null): string {
  return clientValue !== null && REQUEST_ID.test(clientValue) ? clientValue : crypto.randomUUID();
}

export interface TraceContext {
  /** The traceparent to send upstream: the caller's trace, with the gateway as the parent span. */
  traceparent: string;
  /** Passed on only alongside a valid incoming traceparent (spec section 3.3). */
  tracestate: string | null;
}

/** A traceparent's fields when it is valid (spec section 3.2), else null. */
export function parseTraceparent(traceparent: string): { traceId: string; parentId: string; flags: string } | null {
  const parsed = TRACEPARENT.exec(traceparent.trim());
  if (!parsed) return null;
  const [, version, traceId, parentId, flags, rest] = parsed as unknown as [string, string, string, string, string, string | undefined];
  const valid = version !== "ff" && !(version === "00" && rest !== undefined) && !/^0+$/.test(traceId) && !/^0+$/.test(parentId);
  return valid ? { traceId, parentId, flags } : null;
}

/** A fresh span id: 16 hex digits, never all zeros (spec section 3.2.2.4). */
export function newSpanId(): string {
  const id = randomSpanId();
  return id === "0000000000000000" ? newSpanId() : id;
}

/** Continues the caller's trace when its traceparent is valid, otherwise starts a new one. */
export function traceContextFrom(traceparent: string | null, tracestate: string | null): TraceContext {
  const spanId = randomSpanId();
  const caller = traceparent === null ? null : parseTraceparent(traceparent);
  if (caller !== null) return { traceparent: `00-${caller.traceId}-${spanId}-${caller.flags}`, tracestate };
  return { traceparent: `00-${randomSpanId()}${randomSpanId()}-${spanId}-01`, tracestate: null };
}
