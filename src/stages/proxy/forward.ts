/**
 * One upstream attempt: the fetch with its per-attempt timeouts, classified into a response or a
 * failure the retry logic understands. Knows nothing about routes or retries.
 */
import type { CompiledCluster, CompiledTarget } from "../../config/compile.ts";

export type AttemptFailure = "connect-failure" | "timeout";

export type AttemptResult = { kind: "response"; response: Response } | { kind: "failure"; failure: AttemptFailure };

export interface AttemptRequest {
  target: CompiledTarget;
  /** Path (already rewritten) plus the raw query string, starting with "/". */
  pathAndQuery: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** Epoch ms by which response headers must have arrived (the route deadline). */
  deadline: number;
}

/**
 * Sends one attempt. Response headers must arrive within the cluster's connect timeout and the
 * route deadline; the whole response, body included, within the cluster's response timeout.
 */
export async function sendAttempt(cluster: CompiledCluster, request: AttemptRequest): Promise<AttemptResult> {
  const started = Date.now();
  const headersBudgetMs = Math.min(cluster.connectTimeoutMs, request.deadline - started);
  if (headersBudgetMs <= 0) return { kind: "failure", failure: "timeout" };

  const controller = new AbortController();
  const headersTimer = setTimeout(() => controller.abort(), headersBudgetMs);
  let response: Response;
  try {
    response = await fetch(request.target.origin + request.target.basePath + request.pathAndQuery, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      // Redirects belong to the client: following them here would send its request elsewhere.
      redirect: "manual",
      signal: controller.signal,
    });
  } catch {
    return { kind: "failure", failure: controller.signal.aborted ? "timeout" : "connect-failure" };
  } finally {
    clearTimeout(headersTimer);
  }
  if (response.body !== null) {
    // Aborting the signal after the headers cuts the body stream: a trickling upstream cannot hold
    // the connection past the response timeout.
    const remainingMs = cluster.responseTimeoutMs - (Date.now() - started);
    setTimeout(() => controller.abort(), Math.max(0, remainingMs));
  }
  return { kind: "response", response };
}
