/**
 * A cluster: its targets, how requests are balanced over them, its timeouts and in-flight caps, its
 * breaker and its client certificate (origin mTLS). The schema, the compiled form, the compile step
 * and the checks against the deployment; the balancers and health that act on it are the isolate
 * runtime's.
 */
import * as v from "valibot";
import { breakerSchema, type CompiledBreaker, compileBreaker } from "../breaker/config.ts";
import {
  type ConfigIssue,
  type ConfigValidationOptions,
  described,
  durationMs,
  type IssueAt,
  integer,
  outboundUrl,
} from "../config/fields.ts";

export const LOAD_BALANCING_POLICIES = ["weighted-round-robin", "least-in-flight"] as const;

/** A binding's name as wrangler takes it: letters, digits and '_', not starting with a digit. */
const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function clusterSchema(options: ConfigValidationOptions) {
  const targetSchema = v.strictObject({
    url: described(
      outboundUrl(options, "upstream"),
      "The target's http:// or https:// origin, optionally with a base path that prefixes every forwarded path. No credentials, query or fragment. Loopback, private, link-local and other non-public addresses are refused unless the deployment sets ALLOW_PRIVATE_UPSTREAMS=true.",
    ),
    weight: v.optional(described(integer(1, 1000), "Relative share of the cluster's traffic this target gets."), 1),
  });
  return described(
    v.strictObject({
      targets: described(
        v.pipe(
          v.array(described(targetSchema, "One upstream of the cluster."), "must be an array"),
          v.minLength(1, "must have at least one target"),
          v.maxLength(64, "must have at most 64 targets"),
        ),
        "The cluster's upstreams, at most 64.",
      ),
      loadBalancing: v.optional(
        described(
          v.picklist(LOAD_BALANCING_POLICIES, `must be one of: ${LOAD_BALANCING_POLICIES.join(", ")}`),
          "How requests are spread over the targets: weighted-round-robin (smooth, as nginx: a 5:1:1 split interleaves) or least-in-flight (fewest attempts in flight per unit of weight, per isolate).",
        ),
        "weighted-round-robin",
      ),
      connectTimeoutMs: v.optional(
        described(
          durationMs(300_000),
          "Milliseconds per attempt until the upstream's response headers arrive. Workers' fetch has no separate connect phase, so this bounds connect plus time to first byte.",
        ),
        5_000,
      ),
      responseTimeoutMs: v.optional(
        described(
          durationMs(3_600_000),
          "Milliseconds per attempt until the whole response body has arrived; a body still streaming then is cut. Unset: bodies stream as long as both sides keep them going.",
        ),
      ),
      maxInFlight: v.optional(
        described(
          integer(1, 1_000_000),
          "Per isolate: the most requests to this cluster awaiting response headers; beyond it, 503 upstream-overloaded at once. Unset: no cap.",
        ),
      ),
      maxInFlightPerTarget: v.optional(
        described(
          integer(1, 1_000_000),
          "Per isolate and target: a target with this many requests awaiting headers is skipped; when every target is full, 503 upstream-overloaded. Unset: no cap.",
        ),
      ),
      breaker: v.optional(
        described(
          breakerSchema,
          "Circuit breaking and outlier ejection, shared across isolates through one Durable Object per cluster; {} for the defaults. Unset: off.",
        ),
      ),
      mtlsCertificate: v.optional(
        described(
          v.pipe(
            v.string("must be a string"),
            v.regex(BINDING_NAME, "must be a binding name: letters, digits and '_', not starting with a digit"),
          ),
          "Origin mTLS: the name of the deployment's mTLS certificate binding (wrangler.jsonc mtls_certificates) whose fetch sends every attempt to this cluster, presenting that client certificate to the targets, which must then use https. Unset: no client certificate.",
        ),
      ),
    }),
    "A named group of interchangeable upstreams that routes send requests to.",
  );
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
  /** The binding whose fetch sends every attempt, presenting its client certificate; null: the global fetch. */
  mtlsBinding: string | null;
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
    mtlsBinding: cluster.mtlsCertificate ?? null,
  };
}

/**
 * Checks of a cluster's client certificate: where the deployment is known, that it has the binding
 * and that the binding can fetch (a secret or a KV namespace of that name cannot); and that every
 * target uses https, since a client certificate is presented only in a TLS handshake (RFC 8446
 * section 4.4.2): over http the binding would send the request in the clear, with none. Plain http
 * is let through where ALLOW_PRIVATE_UPSTREAMS=true, as for a JWKS: development, whose local
 * origins speak http and where no certificate can be presented anyway (mTLS bindings only exist on
 * Cloudflare, or as remote bindings).
 */
export function clusterIssues(cluster: ClusterConfig, options: ConfigValidationOptions, at: IssueAt, issues: ConfigIssue[]): void {
  const binding = cluster.mtlsCertificate;
  if (binding === undefined) return;
  const deployment = options.deployment;
  if (deployment !== undefined && !deployment.bindings.has(binding)) {
    issues.push({ path: at(".mtlsCertificate"), message: `names the binding '${binding}', which this deployment does not have` });
  } else if (deployment !== undefined && !deployment.fetchers.has(binding)) {
    issues.push({
      path: at(".mtlsCertificate"),
      message: `names the binding '${binding}', which cannot send requests: it must be an mTLS certificate binding (mtls_certificates)`,
    });
  }
  if (options.allowPrivateUpstreams) return;
  cluster.targets.forEach((target, i) => {
    if (new URL(target.url).protocol !== "https:") {
      issues.push({
        path: at(`.targets[${i}].url`),
        message:
          "must use https: the cluster presents a client certificate (mtlsCertificate), which only a TLS connection carries (http only with ALLOW_PRIVATE_UPSTREAMS=true, for development)",
      });
    }
  });
}
