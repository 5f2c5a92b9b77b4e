/**
 * Ships finished spans to the OTLP/HTTP endpoint of the config, in the background (waitUntil),
 * batched per isolate: a request adds its spans to the isolate's buffer, and starts an export only
 * when the buffer holds a batch or its oldest span has waited the batch interval. Workers run no
 * timer after a response, so an idle isolate holds its last spans until its next request (or
 * loses them when it is evicted): tracing is sampled telemetry, and that loss is accepted.
 *
 * One export is in flight per isolate; meanwhile spans wait in a bounded buffer, and those that do
 * not fit are dropped and counted. A failed export is dropped too (counted, one warning), never
 * retried: a collector that is down must not grow the isolate's memory or its subrequests.
 */
import { log } from "../../lib/log.ts";
import { count, metricKey } from "../../lib/metrics.ts";
import { type CompiledTracing, MAX_BUFFERED_SPANS } from "../../lib/tracing/config.ts";
import { exportRequest } from "../../lib/tracing/otlp.ts";
import type { Span } from "../../lib/tracing/spans.ts";

/** A collector that has not answered by then is given up on: the export counts as failed. */
export const EXPORT_TIMEOUT_MS = 10_000;

const EXPORTED = metricKey("tracing_spans_exported_total");
const FAILED = metricKey("tracing_export_failures_total");
const DROPPED = metricKey("tracing_spans_dropped_total");

const RESOURCE = { "service.name": "edgegate", "telemetry.sdk.language": "js", "cloud.provider": "cloudflare" } as const;

/** Where the spans go and what is needed to reach it. */
export interface ExportTarget {
  settings: CompiledTracing;
  /** The deployment's bindings, where the secret headers are read. */
  env: object;
  /** Runs the export after the response (ctx.waitUntil). */
  background: (work: Promise<unknown>) => void;
}

/**
 * The isolate's span buffer. Module scope is right for it: spans are per isolate by nature, and a
 * request only appends its own finished spans; the buffer is bounded, and emptied by the export.
 */
const buffer: Span[] = [];
let oldestAt = 0;
let inFlight = false;

/** Adds a request's finished spans and, when a batch is due and no export is in flight, starts one. */
export function enqueueSpans(spans: readonly Span[], target: ExportTarget, now: number): void {
  const room = MAX_BUFFERED_SPANS - buffer.length;
  if (spans.length > room) count(DROPPED, spans.length - Math.max(0, room));
  if (room > 0) {
    if (buffer.length === 0) oldestAt = now;
    for (let i = 0; i < spans.length && i < room; i++) buffer.push(spans[i] as Span);
  }
  const { batchSize, batchIntervalMs } = target.settings;
  if (inFlight || buffer.length === 0 || (buffer.length < batchSize && now - oldestAt < batchIntervalMs)) return;
  inFlight = true;
  const batch = buffer.splice(0, buffer.length);
  target.background(sendBatch(batch, target).finally(() => (inFlight = false)));
}

/** The export's headers: JSON, and each configured header from its secret binding. */
function exportHeaders(settings: CompiledTracing, env: object): Headers | string {
  const headers = new Headers({ "content-type": "application/json" });
  for (const [header, binding] of settings.headers) {
    const secret = (env as Record<string, unknown>)[binding];
    if (typeof secret !== "string") return `the secret binding '${binding}' for header '${header}' is not set in this deployment`;
    headers.set(header, secret);
  }
  return headers;
}

async function sendBatch(batch: Span[], target: ExportTarget): Promise<void> {
  const headers = exportHeaders(target.settings, target.env);
  let problem: string;
  if (typeof headers === "string") {
    problem = headers;
  } else {
    try {
      const response = await fetch(target.settings.endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify(exportRequest(batch, RESOURCE)),
        signal: AbortSignal.timeout(EXPORT_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (response.ok) {
        count(EXPORTED, batch.length);
        return;
      }
      problem = `the collector answered ${response.status}`;
    } catch (error) {
      problem =
        error instanceof Error && error.name === "TimeoutError"
          ? "the collector did not answer in time"
          : "the collector could not be reached";
    }
  }
  count(FAILED);
  // The endpoint is config, not a secret; the headers (which hold secrets) are never logged.
  log({ level: "warn", event: "tracing-export-failed", endpoint: target.settings.endpoint, spans: batch.length, problem });
}

/** Empties the buffer (tests start from an isolate that holds no spans). */
export function resetSpanBuffer(): void {
  buffer.length = 0;
  inFlight = false;
}
