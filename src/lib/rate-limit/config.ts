/**
 * A route's `rateLimits` policies: the schema, the compiled form, the compile step and the checks
 * across fields. The limiters and leases that enforce a policy are the isolate runtime's, kept by
 * what this compiles (the policy's counter prefix and settings).
 */
import * as v from "valibot";
import { type ConfigIssue, described, HEADER_NAME, type IssueAt, integer, name, SPOOFABLE_ADDRESS_HEADERS } from "../config/fields.ts";
import { metricKey } from "../metrics.ts";
import { type LimitSpec, RATE_LIMIT_ALGORITHMS } from "./algorithms.ts";
import { type KeyPart, parseKeyPart } from "./key.ts";
import { defaultLeaseSize } from "./lease.ts";

export const RATE_LIMIT_BACKENDS = ["durable-object", "upstash"] as const;
export const RATE_LIMIT_MODES = ["exact", "local-first"] as const;

/** One part of a rate-limit key: `ip`, `subject`, `consumer`, `header:<name>` or `claim:<name>`. */
const rateLimitKeyPart = v.pipe(
  v.string("must be a string"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const part = dataset.value;
    if (part === "ip" || part === "subject" || part === "consumer") return;
    if (part.startsWith("header:")) {
      const name = part.slice(7);
      if (!HEADER_NAME.test(name)) addIssue({ message: "must name a lower-case header field, as in 'header:x-tenant'" });
      else if (SPOOFABLE_ADDRESS_HEADERS.has(name)) {
        addIssue({ message: `keys on '${name}', which any client can set; use 'ip' (the connecting address) instead` });
      }
      return;
    }
    if (part.startsWith("claim:")) {
      if (!/^[\x21-\x7E]{1,128}$/.test(part.slice(6))) addIssue({ message: "must name a claim, as in 'claim:org_id'" });
      return;
    }
    addIssue({ message: "must be 'ip', 'subject', 'consumer', 'header:<name>' or 'claim:<name>'" });
  }),
  v.examples(["ip", "subject", "consumer", "header:x-tenant", "claim:org_id"]),
);

export const rateLimitSchema = v.strictObject({
  id: described(name, "The policy's name in RateLimit headers, logs and metrics; unique within the route."),
  algorithm: v.optional(
    described(
      v.picklist(RATE_LIMIT_ALGORITHMS, `must be one of: ${RATE_LIMIT_ALGORITHMS.join(", ")}`),
      "How requests are counted: fixed-window, sliding-window or token-bucket.",
    ),
    "fixed-window",
  ),
  limit: described(integer(1, 1_000_000_000), "Requests allowed per window; for token-bucket, the bucket's size (the largest burst)."),
  windowSec: described(integer(1, 31 * 86_400), "The window, in seconds; for token-bucket, the interval at which refill tokens are added."),
  refill: v.optional(described(integer(1, 1_000_000_000), "token-bucket only: tokens added every windowSec. Unset: limit.")),
  key: v.optional(
    described(
      v.pipe(
        v.array(rateLimitKeyPart, "must be an array"),
        v.minLength(1, "must not be empty"),
        v.maxLength(4, "must have at most 4 parts"),
      ),
      "What one counter is kept per: 1-4 parts, composed, of ip (the client address), subject (the JWT sub or the API key's consumer), consumer (the API key's rateLimitKey or consumer), header:<name>, claim:<name>.",
    ),
    ["ip"],
  ),
  backend: v.optional(
    described(
      v.picklist(RATE_LIMIT_BACKENDS, `must be one of: ${RATE_LIMIT_BACKENDS.join(", ")}`),
      "Where the counters live: durable-object (binding RATE_LIMITER) or upstash (secrets UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN).",
    ),
    "durable-object",
  ),
  mode: v.optional(
    described(
      v.picklist(RATE_LIMIT_MODES, `must be one of: ${RATE_LIMIT_MODES.join(", ")}`),
      "exact: one backend call per request; local-first: isolates spend leased tokens from memory, with a bounded over-admission.",
    ),
    "exact",
  ),
  leaseSize: v.optional(
    described(integer(1, 10_000), "local-first only: the most tokens one isolate holds. Unset: limit / 20, between 1 and 1000."),
  ),
  onFailure: v.optional(
    described(
      v.picklist(["open", "closed"], "must be one of: open, closed"),
      "When the backend errs or does not answer within timeoutMs: open admits the request, closed answers 503.",
    ),
    "open",
  ),
  timeoutMs: v.optional(described(integer(10, 5_000), "The longest a request waits on the backend, in milliseconds."), 300),
  shadow: v.optional(
    described(v.boolean("must be true or false"), "Count and log what the policy would refuse; refuse nothing and advertise nothing."),
    false,
  ),
});

export type RateLimitPolicyConfig = v.InferOutput<typeof rateLimitSchema>;

/** A route's `rateLimits`: its policies, evaluated in order. */
export const rateLimitsSchema = v.optional(
  described(
    v.pipe(
      v.array(described(rateLimitSchema, "One rate-limit policy."), "must be an array"),
      v.maxLength(8, "must have at most 8 policies"),
    ),
    "Rate-limit policies, evaluated in order: a request must pass every enforced one. At most 8.",
  ),
  [],
);

export interface CompiledRateLimit {
  id: string;
  spec: LimitSpec;
  keyParts: readonly KeyPart[];
  backend: (typeof RATE_LIMIT_BACKENDS)[number];
  mode: (typeof RATE_LIMIT_MODES)[number];
  leaseSize: number;
  timeoutMs: number;
  onFailure: "open" | "closed";
  shadow: boolean;
  /** The counter's name in the backend, before ":" and the key. */
  prefix: string;
  /** Counter keys, rendered once. */
  metrics: Record<"allowed" | "denied" | "shadowDenied" | "failOpen" | "failClosed", string>;
}

export function compileRateLimit(routeId: string, policy: RateLimitPolicyConfig): CompiledRateLimit {
  const spec: LimitSpec = {
    algorithm: policy.algorithm,
    limit: policy.limit,
    windowMs: policy.windowSec * 1000,
    refill: policy.refill ?? policy.limit,
  };
  // The counter's name in the backend. The algorithm and window are part of it, so changing either
  // starts new counters instead of reading old state with new rules; the limit is not, so raising it
  // mid-window keeps what was already counted.
  const prefix = `edgegate:rl:${routeId}:${policy.id}:${policy.algorithm}:${spec.windowMs}`;
  const labels = { route: routeId, policy: policy.id };
  const decision = (outcome: string) => metricKey("rate_limit_decisions_total", { ...labels, outcome });
  return {
    id: policy.id,
    spec,
    keyParts: policy.key.map(parseKeyPart),
    backend: policy.backend,
    mode: policy.mode,
    leaseSize: policy.leaseSize ?? defaultLeaseSize(policy.limit),
    timeoutMs: policy.timeoutMs,
    onFailure: policy.onFailure,
    shadow: policy.shadow,
    prefix,
    metrics: {
      allowed: decision("allowed"),
      denied: decision("denied"),
      shadowDenied: decision("shadow_denied"),
      failOpen: decision("fail_open"),
      failClosed: decision("fail_closed"),
    },
  };
}

/** What of the route's authentication its policies' keys can draw on. */
export interface RateLimitAuth {
  jwt?: string | undefined;
  apiKey?: unknown;
}

/** Checks across a route's policies: unique ids, fields of one algorithm or mode, keys the route can fill. */
export function rateLimitIssues(
  policies: readonly RateLimitPolicyConfig[],
  auth: RateLimitAuth | undefined,
  at: IssueAt,
  issues: ConfigIssue[],
): void {
  const ids = new Set<string>();
  policies.forEach((policy, j) => {
    const here = (suffix: string) => at(`.rateLimits[${j}]${suffix}`);
    if (ids.has(policy.id)) issues.push({ path: here(".id"), message: `duplicates another policy id of this route` });
    ids.add(policy.id);
    if (policy.refill !== undefined && policy.algorithm !== "token-bucket") {
      issues.push({ path: here(".refill"), message: "only applies to the token-bucket algorithm" });
    }
    if (policy.leaseSize !== undefined) {
      if (policy.mode !== "local-first") issues.push({ path: here(".leaseSize"), message: "only applies to mode 'local-first'" });
      else if (policy.leaseSize > policy.limit) issues.push({ path: here(".leaseSize"), message: `must be <= limit (${policy.limit})` });
    }
    policy.key.forEach((part, k) => {
      const needsIdentity = part === "subject" || part === "consumer" || part.startsWith("claim:");
      if (needsIdentity && auth === undefined) {
        issues.push({ path: here(`.key[${k}]`), message: `'${part}' needs an authenticated caller; the route has no auth block` });
      }
      if (part === "consumer" && auth !== undefined && auth.apiKey === undefined) {
        issues.push({ path: here(`.key[${k}]`), message: "'consumer' comes from API keys; the route's auth has no apiKey" });
      }
      if (part.startsWith("claim:") && auth !== undefined && auth.jwt === undefined) {
        issues.push({ path: here(`.key[${k}]`), message: "claims come from JWTs; the route's auth has no jwt" });
      }
      if (policy.key.indexOf(part) !== k) issues.push({ path: here(`.key[${k}]`), message: `repeats '${part}'` });
    });
  });
}
