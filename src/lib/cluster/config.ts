/**
 * A cluster: its targets, how requests are balanced over them, its timeouts and in-flight caps, and
 * its breaker. The schema, the compiled form and the compile step; the balancers and health that
 * act on it are the isolate runtime's.
 */
import * as v from "valibot";
import { breakerSchema, type CompiledBreaker, compileBreaker } from "../breaker/config.ts";
import { type ConfigValidationOptions, durationMs, integer, outboundUrl } from "../config/fields.ts";

export const LOAD_BALANCING_POLICIES = ["weighted-round-robin", "least-in-flight"] as const;

export function clusterSchema(options: ConfigValidationOptions) {
  const targetSchema = v.strictObject({
    url: outboundUrl(options, "upstream"),
    weight: v.optional(integer(1, 1000), 1),
  });
  return v.strictObject({
    targets: v.pipe(
      v.array(targetSchema, "must be an array"),
      v.minLength(1, "must have at least one target"),
      v.maxLength(64, "must have at most 64 targets"),
    ),
    loadBalancing: v.optional(
      v.picklist(LOAD_BALANCING_POLICIES, `must be one of: ${LOAD_BALANCING_POLICIES.join(", ")}`),
      "weighted-round-robin",
    ),
    /** Per attempt, until the upstream's response headers arrive. */
    connectTimeoutMs: v.optional(durationMs(300_000), 5_000),
    /** Per attempt, until the whole response body has been received; unset streams without limit. */
    responseTimeoutMs: v.optional(durationMs(3_600_000)),
    /** Per isolate: requests to this cluster awaiting their response headers; more are refused with 503. */
    maxInFlight: v.optional(integer(1, 1_000_000)),
    /** Per isolate and target: a target at this many is skipped; when every target is, the request gets 503. */
    maxInFlightPerTarget: v.optional(integer(1, 1_000_000)),
    /** Circuit breaking and outlier ejection, shared across isolates through one Durable Object per cluster. */
    breaker: v.optional(breakerSchema),
  });
}

export type ClusterConfig = v.InferOutput<ReturnType<typeof clusterSchema>>;

export interface CompiledTarget {
  /** scheme://host[:port], as URL.origin gives it. */
  origin: string;
  /** The target URL's own path without a trailing slash ("" for none); prefixed to every request. */
  basePath: string;
  /** origin + basePath: the target's name in the breaker, stable across config versions. */
  key: string;
}

export interface CompiledCluster {
  name: string;
  targets: readonly CompiledTarget[];
  /** How the runtime's balancer picks among `targets`. */
  loadBalancing: ClusterConfig["loadBalancing"];
  /** Each target's weight, by position in `targets`. */
  weights: readonly number[];
  connectTimeoutMs: number;
  responseTimeoutMs: number | null;
  breaker: CompiledBreaker | null;
  maxInFlight: number | null;
  maxInFlightPerTarget: number | null;
}

export function compileCluster(name: string, cluster: ClusterConfig): CompiledCluster {
  return {
    name,
    targets: cluster.targets.map((t) => {
      const url = new URL(t.url);
      const basePath = url.pathname.replace(/\/+$/, "");
      return { origin: url.origin, basePath, key: url.origin + basePath };
    }),
    loadBalancing: cluster.loadBalancing,
    weights: cluster.targets.map((t) => t.weight),
    connectTimeoutMs: cluster.connectTimeoutMs,
    responseTimeoutMs: cluster.responseTimeoutMs ?? null,
    breaker: cluster.breaker ? compileBreaker(cluster.breaker) : null,
    maxInFlight: cluster.maxInFlight ?? null,
    maxInFlightPerTarget: cluster.maxInFlightPerTarget ?? null,
  };
}
