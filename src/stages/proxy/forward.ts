/**
 * One upstream attempt: the fetch with its per-attempt timeouts, classified into a response or a
 * failure the retry logic understands. Knows nothing about routes or retries.
 */
import type { CompiledCluster, CompiledTarget } from "../../lib/cluster/config.ts";

/**
 * Why an attempt brought no usable response: the upstream refused or reset (`connect-failure`),
 * sent no headers within its own time (`timeout`), answered with something that is not a relayable
 * HTTP response (`invalid-response`); or the client's doing, never the upstream's: the gateway
 * stopped the request body (`body-stopped`), or the route's deadline passed while the upstream had
 * not yet had its time because the client's body was slow to arrive (`body-slow`).
 */
export type AttemptFailure = "connect-failure" | "timeout" | "invalid-response" | "body-stopped" | "body-slow";

export type AttemptResult =
  | { kind: "response"; response: Response; body: ReadableStream<Uint8Array> | null }
  | { kind: "failure"; failure: AttemptFailure };

export interface AttemptRequest {
  target: CompiledTarget;
  /** Path (already rewritten) plus the raw query string, starting with "/". */
  pathAndQuery: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** Epoch ms by which response headers must have arrived (the route deadline). */
  deadline: number;
  /** The body will be read by the Worker (buffered), not only passed through to the client. */
  bodyReadInWorker: boolean;
  /** Aborts the attempt when the gateway stops the request body; null without a streamed body. */
  bodyStopped: AbortSignal | null;
  /** Milliseconds the attempt has spent waiting on the client's body by `now`; null without a streamed body. */
  clientWaitMs: ((now: number) => number) | null;
  /**
   * The binding whose fetch sends the attempt: the cluster's mTLS certificate binding, which
   * presents its client certificate to the target; null for the global fetch (no certificate).
   */
  fetcher: Fetcher | null;
}

/**
 * The header deadline of an attempt that streams the client's body: the upstream is given its own
 * time (the cluster's connect timeout) counted without the time spent waiting on the client, so a
 * client that trickles its body up to the deadline cannot make a healthy upstream look slow; and
 * the route's deadline still bounds the whole, the client's share included. Resolves with the
 * failure it ended the attempt for.
 */
function streamedBodyDeadline(
  upstreamBudgetMs: number,
  routeDeadline: number,
  started: number,
  clientWaitMs: (now: number) => number,
  controller: AbortController,
): { failure: () => "timeout" | "body-slow"; clear: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failure: "timeout" | "body-slow" = "timeout";
  const check = () => {
    const now = Date.now();
    const upstreamMs = now - started - clientWaitMs(now);
    if (upstreamMs >= upstreamBudgetMs || now >= routeDeadline) {
      failure = upstreamMs >= upstreamBudgetMs ? "timeout" : "body-slow";
      controller.abort(new DOMException("The upstream did not answer in time.", "TimeoutError"));
      return;
    }
    timer = setTimeout(check, Math.max(1, Math.min(upstreamBudgetMs - upstreamMs, routeDeadline - now)));
  };
  timer = setTimeout(check, Math.max(1, Math.min(upstreamBudgetMs, routeDeadline - started)));
  return {
    failure: () => failure,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/**
 * Whether the upstream's status can be relayed: a final status (RFC 9110 section 15), and no 101,
 * since the gateway never forwards an Upgrade and so never asked to switch protocols.
 */
function relayableStatus(status: number): boolean {
  return status >= 200 && status <= 599;
}

/**
 * Sends one attempt. Response headers must arrive within the cluster's connect timeout and the
 * route deadline; the whole response, body included, within the cluster's response timeout if set.
 */
export async function sendAttempt(cluster: CompiledCluster, request: AttemptRequest): Promise<AttemptResult> {
  const started = Date.now();
  const headersBudgetMs = Math.min(cluster.connectTimeoutMs, request.deadline - started);
  if (headersBudgetMs <= 0) return { kind: "failure", failure: "timeout" };

  // The fetch signal also aborts a body that JS code reads (a native pass-through is not affected):
  // when the body will be read here (a response timeout, buffering for coalescing), the header
  // deadline is a timer cleared once the headers are in; so it is when the client's body streams
  // (its wait is not the upstream's). Otherwise a native timeout signal: no JS timer per request.
  const readsBody = request.bodyReadInWorker || cluster.responseTimeoutMs !== null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let streamed: ReturnType<typeof streamedBodyDeadline> | undefined;
  let deadline: AbortSignal;
  if (request.clientWaitMs !== null) {
    const controller = new AbortController();
    streamed = streamedBodyDeadline(cluster.connectTimeoutMs, request.deadline, started, request.clientWaitMs, controller);
    deadline = controller.signal;
  } else if (readsBody) {
    const controller = new AbortController();
    timer = setTimeout(() => controller.abort(new DOMException("The upstream did not answer in time.", "TimeoutError")), headersBudgetMs);
    deadline = controller.signal;
  } else {
    deadline = AbortSignal.timeout(headersBudgetMs);
  }
  const stopped = request.bodyStopped;
  const signal = stopped === null ? deadline : AbortSignal.any([deadline, stopped]);
  const url = request.target.origin + request.target.basePath + request.pathAndQuery;
  const init: RequestInit = {
    method: request.method,
    headers: request.headers,
    body: request.body,
    // Redirects belong to the client: following them here would send its request elsewhere.
    redirect: "manual",
    signal,
  };
  let response: Response;
  try {
    // An mTLS binding's fetch has the global fetch's signature and behaviour, plus the certificate.
    response = await (request.fetcher === null ? fetch(url, init) : request.fetcher.fetch(url, init));
  } catch {
    if (stopped?.aborted) return { kind: "failure", failure: "body-stopped" };
    if (!deadline.aborted) return { kind: "failure", failure: "connect-failure" };
    return { kind: "failure", failure: streamed?.failure() ?? "timeout" };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    streamed?.clear();
  }
  if (!relayableStatus(response.status)) {
    await response.body?.cancel().catch(() => {});
    return { kind: "failure", failure: "invalid-response" };
  }
  if (response.body === null || cluster.responseTimeoutMs === null) return { kind: "response", response, body: response.body };
  return { kind: "response", response, body: limitDuration(response.body, cluster.responseTimeoutMs - (Date.now() - started)) };
}

/**
 * Cuts a response body that is still streaming after `remainingMs`, so a trickling upstream cannot
 * hold a connection open forever. Aborting the fetch signal does not reach a body whose headers
 * have arrived, so the body is piped through a native identity stream whose pipe can be aborted.
 */
function limitDuration(body: ReadableStream<Uint8Array>, remainingMs: number): ReadableStream<Uint8Array> {
  const cut = new AbortController();
  // No reason of its own: the runtime reports an abort with a custom reason as an uncaught error.
  const timer = setTimeout(() => cut.abort(), Math.max(0, remainingMs));
  const { readable, writable } = new IdentityTransformStream();
  body
    .pipeTo(writable, { signal: cut.signal })
    .catch(() => {})
    .finally(() => clearTimeout(timer));
  return readable;
}
