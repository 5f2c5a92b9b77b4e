/**
 * The config's `observability` block: access-log sampling, Server-Timing and the metrics'
 * consumer dimension (compiled into each route's metrics: lib/observability/route-metrics.ts). The
 * schema, the compiled form and the compile step.
 */
import * as v from "valibot";
import { type ConfigValidationOptions, described, fraction } from "../config/fields.ts";
import { type CompiledTracing, compileTracing, tracingSchema } from "../tracing/config.ts";

/** The most consumers `observability.metrics.consumers` may name: each adds six series per route. */
export const MAX_METRIC_CONSUMERS = 100;

/** The block's schema; the tracing endpoint follows the deployment's outbound address rule. */
export const observabilitySchema = (options: ConfigValidationOptions) =>
  v.strictObject({
    accessLog: v.optional(
      described(
        v.strictObject({
          sampleRate: v.optional(described(fraction(0, 1), "Share of requests written to the access log: 0 none, 1 all."), 0.01),
          errors: v.optional(
            described(
              v.boolean("must be true or false"),
              "Log every request the gateway answered with a 5xx or that met an upstream 5xx, whatever the sample.",
            ),
            true,
          ),
        }),
        "The JSON access log: one line per sampled request.",
      ),
      {},
    ),
    serverTiming: v.optional(
      described(
        v.boolean("must be true or false"),
        "Send Server-Timing on responses: the gateway's own time and the upstream's. It tells clients about upstream latency, so it is off unless set.",
      ),
      false,
    ),
    metrics: v.optional(
      described(
        v.strictObject({
          consumers: v.optional(
            described(
              v.pipe(
                v.array(
                  v.pipe(
                    v.string("must be a string"),
                    v.minLength(1, "must not be empty"),
                    v.maxLength(200, "must be at most 200 characters"),
                  ),
                ),
                v.maxLength(MAX_METRIC_CONSUMERS, `must name at most ${MAX_METRIC_CONSUMERS} consumers`),
              ),
              'Consumers (API-key consumer names or JWT subjects) counted under their own `consumer` label in http_consumer_requests_total; every other authenticated caller counts as "other", an anonymous one as "-". Unset or empty: no per-consumer series (the label stays bounded by this list).',
            ),
          ),
        }),
        "The fleet-wide metrics served at /__gateway/admin/metrics.",
      ),
      {},
    ),
    tracing: v.optional(
      described(
        tracingSchema(options),
        "OpenTelemetry traces exported over OTLP/HTTP: a server span per request, a client span per upstream attempt and mirror copy. Unset: off.",
      ),
    ),
  });

export type ObservabilityConfig = v.InferOutput<ReturnType<typeof observabilitySchema>>;

/** The config's observability block in the units the code uses. */
export interface CompiledObservability {
  accessLog: { sampleRate: number; errors: boolean };
  serverTiming: boolean;
  /** null when tracing is off. */
  tracing: CompiledTracing | null;
}

export function compileObservability(observability: ObservabilityConfig): CompiledObservability {
  return {
    accessLog: { sampleRate: observability.accessLog.sampleRate, errors: observability.accessLog.errors },
    serverTiming: observability.serverTiming,
    tracing: compileTracing(observability.tracing),
  };
}
