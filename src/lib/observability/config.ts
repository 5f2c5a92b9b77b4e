/**
 * The config's `observability` block: access-log sampling and Server-Timing. The schema, the
 * compiled form and the compile step, and the per-route response counter keys.
 */
import * as v from "valibot";
import { described, fraction } from "../config/fields.ts";
import { metricKey } from "../metrics.ts";

export const observabilitySchema = v.strictObject({
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
