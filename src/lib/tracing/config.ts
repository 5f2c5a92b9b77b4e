/**
 * The config's `observability.tracing` block: where spans go (an OTLP/HTTP endpoint and its auth
 * headers, from secret bindings), which requests are traced, and how spans are batched. The
 * schema, the compiled form and the compile step; the spans themselves are built in spans.ts.
 */
import * as v from "valibot";
import {
  type ConfigIssue,
  type ConfigValidationOptions,
  type DeploymentFacts,
  described,
  fraction,
  integer,
  outboundUrl,
  TOKEN,
} from "../config/fields.ts";
import { GATEWAY_BINDING_NAMES } from "../policies/set-headers.ts";

/** A binding name as wrangler accepts it. */
const BINDING = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const GATEWAY_BINDINGS: ReadonlySet<string> = new Set(GATEWAY_BINDING_NAMES);

/** Default share of requests traced: low enough that most isolates export a batch every few seconds, not per request. */
export const DEFAULT_TRACE_SAMPLE_RATE = 0.01;
export const DEFAULT_TRACE_BATCH_SIZE = 64;
export const DEFAULT_TRACE_BATCH_INTERVAL_MS = 5_000;
/** Finished spans an isolate holds at most while an export is pending; more are dropped and counted. */
export const MAX_BUFFERED_SPANS = 2_048;

const secretHeader = v.strictObject({
  secret: described(
    v.pipe(
      v.string("must be a string"),
      v.regex(BINDING, "must be a binding name: up to 64 ASCII letters, digits and '_', not starting with a digit"),
      v.check((binding) => !GATEWAY_BINDINGS.has(binding), "is one of the gateway's own bindings, never sent to a collector"),
    ),
    "A secret binding of the deployment (wrangler secret put <NAME>), by name: its value is sent to the collector and nowhere else. A publish naming one the deployment lacks is refused.",
  ),
});

export function tracingSchema(options: ConfigValidationOptions) {
  return v.strictObject({
    endpoint: described(
      outboundUrl(options, "upstream"),
      "The OTLP/HTTP traces endpoint, in full (e.g. https://otel-collector.example.com/v1/traces): spans are POSTed there as OTLP JSON.",
    ),
    headers: v.optional(
      described(
        v.pipe(
          v.record(
            v.pipe(v.string(), v.regex(TOKEN, "must be a header field name"), v.toLowerCase()),
            described(secretHeader, "The header field's value, taken from a secret binding."),
            "must be an object of header names to secret bindings",
          ),
          v.check((headers) => Object.keys(headers).length <= 8, "must name at most 8 headers"),
        ),
        'Header fields sent with every export, each from a secret binding: e.g. {"authorization": {"secret": "OTLP_TOKEN"}}. Unset: none.',
      ),
    ),
    sampleRate: v.optional(
      described(
        fraction(0, 1),
        "Share of requests traced when the caller sent no traceparent: 0 none, 1 all. A caller's traceparent decides by its sampled flag; a request answered with a 5xx or that met an upstream 5xx is always traced.",
      ),
      DEFAULT_TRACE_SAMPLE_RATE,
    ),
    batchSize: v.optional(
      described(integer(1, 1_000), "Spans an isolate collects before it exports them in one request, in the background."),
      DEFAULT_TRACE_BATCH_SIZE,
    ),
    batchIntervalMs: v.optional(
      described(
        integer(100, 600_000),
        "The longest a span waits for its batch to fill: a request finishing after that exports what is held. Workers have no timer after a response, so an idle isolate holds its spans until its next request.",
      ),
      DEFAULT_TRACE_BATCH_INTERVAL_MS,
    ),
  });
}

export type TracingConfig = v.InferOutput<ReturnType<typeof tracingSchema>>;

/** The tracing block in the units the code uses. */
export interface CompiledTracing {
  endpoint: string;
  /** Header name -> secret binding name. */
  headers: ReadonlyArray<readonly [header: string, binding: string]>;
  sampleRate: number;
  batchSize: number;
  batchIntervalMs: number;
}

export function compileTracing(tracing: TracingConfig | undefined): CompiledTracing | null {
  if (tracing === undefined) return null;
  return {
    endpoint: tracing.endpoint,
    headers: Object.entries(tracing.headers ?? {}).map(([header, source]) => [header, source.secret] as const),
    sampleRate: tracing.sampleRate,
    batchSize: tracing.batchSize,
    batchIntervalMs: tracing.batchIntervalMs,
  };
}

/** Secret headers naming a binding the deployment lacks; skipped where the deployment is not known (the CLI offline). */
export function tracingIssues(tracing: TracingConfig | undefined, deployment: DeploymentFacts | undefined, issues: ConfigIssue[]): void {
  if (tracing === undefined || deployment === undefined) return;
  for (const [header, source] of Object.entries(tracing.headers ?? {})) {
    if (!deployment.bindings.has(source.secret)) {
      issues.push({
        path: `observability.tracing.headers.${header}.secret`,
        message: `names the binding '${source.secret}', which this deployment does not have (wrangler secret put ${source.secret})`,
      });
    }
  }
}
