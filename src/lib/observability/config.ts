/**
 * The config's `observability` block: access-log sampling and Server-Timing. The schema, the
 * compiled form and the compile step, and the per-route response counter keys.
 */
import * as v from "valibot";
import { fraction } from "../config/fields.ts";
import { metricKey } from "../metrics.ts";

export const observabilitySchema = v.strictObject({
  accessLog: v.optional(
    v.strictObject({
      /** Share of requests written to the access log, 0 to 1. */
      sampleRate: v.optional(fraction(0, 1), 0.01),
      /** Log every request the gateway answered with a 5xx or that met an upstream 5xx, whatever the sample. */
      errors: v.optional(v.boolean("must be true or false"), true),
    }),
    {},
  ),
  /** Server-Timing on responses: the gateway's own time and the upstream's. Off by default: it tells clients about upstream latency. */
  serverTiming: v.optional(v.boolean("must be true or false"), false),
});

export type ObservabilityConfig = v.InferOutput<typeof observabilitySchema>;

/** The config's observability block in the units the code uses. */
export interface CompiledObservability {
  accessLog: { sampleRate: number; errors: boolean };
  serverTiming: boolean;
}

export function compileObservability(observability: ObservabilityConfig): CompiledObservability {
  return {
    accessLog: { sampleRate: observability.accessLog.sampleRate, errors: observability.accessLog.errors },
    serverTiming: observability.serverTiming,
  };
}

/** Response counter keys by status class for `route` ("-": requests no route matched). */
export function responseCounterKeys(route: string): readonly string[] {
  return [0, 1, 2, 3, 4, 5].map((n) => metricKey("http_responses_total", { route, class: `${n}xx` }));
}
