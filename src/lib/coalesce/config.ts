/**
 * A route's `coalesce` block: the schema, the compiled form, the compile step and its checks. The
 * flight tables and pass lists are the isolate runtime's, kept under `stateKey`. Defaults and their
 * reasoning: docs/coalescing.md.
 */
import * as v from "valibot";
import type { CompiledAuth } from "../auth/config.ts";
import { type ConfigIssue, described, headerName, type IssueAt, integer } from "../config/fields.ts";
import { type HistogramKeys, histogramKeys, metricKey } from "../metrics.ts";
import { credentialHeaders } from "./key.ts";

export const coalesceSchema = v.strictObject({
  varyHeaders: v.optional(
    described(
      v.pipe(v.array(headerName, "must be an array"), v.maxLength(16, "must have at most 16 headers")),
      "Request headers the upstream's answer depends on (e.g. accept-language): callers that differ on one, as the upstream receives it, never share a call.",
    ),
    [],
  ),
  public: v.optional(
    described(
      v.boolean("must be true or false"),
      "The answer is the same whoever asks: callers with different credentials may share a call, made with the first caller's credentials and claim headers. When false, only callers with the same credential share.",
    ),
    false,
  ),
  maxResponseBytes: v.optional(
    described(
      integer(0, 16 * 1024 * 1024),
      "Largest body shared, in bytes; a larger answer streams to its own caller, and the others make their own call.",
    ),
    1024 * 1024,
  ),
  maxWaiters: v.optional(described(integer(1, 100_000), "Most callers waiting on one upstream call; more make their own call."), 1_000),
  passTtlMs: v.optional(
    described(
      integer(0, 600_000),
      "After an answer that could not be shared, requests for the same key skip coalescing for this many milliseconds (0: never).",
    ),
    5_000,
  ),
});

export type CoalesceConfig = v.InferOutput<typeof coalesceSchema>;

/** Buckets of the followers-per-call histogram (`le` = at most; kept per bucket, made cumulative by the exposition). */
export const FOLLOWER_BUCKETS = [0, 1, 4, 16, 64, 256, 1024] as const;

export interface CompiledCoalesce {
  varyHeaders: readonly string[];
  public: boolean;
  /** Request headers whose values (hashed) are part of the key unless the route is public. */
  credentialHeaders: readonly string[];
  maxResponseBytes: number;
  passTtlMs: number;
  /** Followers one call may carry. */
  maxWaiters: number;
  /**
   * The identity of the runtime's flight table and pass list for this route: its id, its whole
   * config and its clusters' targets. A publish that leaves all of them as they were keeps the
   * calls in flight and the pass marks; any change starts both afresh, so a request never follows
   * a call made under other rules.
   */
  stateKey: string;
  /** Counter keys, rendered once. */
  metrics: {
    /** What each request did: led a call, followed one, went alone (cap reached), skipped (pass mark, or not a read). */
    role: Record<"leader" | "follower" | "alone" | "pass" | "bypass", string>;
    /** How each led call ended for its followers. */
    call: Record<"shared" | "unshareable" | "tooLarge" | "failed" | "alone", string>;
    followerTimeouts: string;
    varyMismatches: string;
    /** Followers per call, as a histogram: waiters per upstream call = 1 + sum / count. */
    followers: HistogramKeys;
    /** Bytes held in shared answers being buffered now, and the most at once. */
    bufferedBytes: string;
    bufferedBytesPeak: string;
  };
}

/** What decides whether a call in flight may be followed: the route as configured and the targets its requests may reach. */
export interface CoalesceIdentity {
  routeId: string;
  /** The route's whole config, as validated. */
  route: unknown;
  /** Target URLs of each cluster the route's requests may reach. */
  targets: readonly (readonly string[])[];
}

export function compileCoalesce(coalesce: CoalesceConfig, auth: CompiledAuth | null, identity: CoalesceIdentity): CompiledCoalesce {
  const routeId = identity.routeId;
  const own: string[] = [];
  if (auth?.apiKey) own.push(auth.apiKey.header);
  if (auth?.tokenSource.kind === "header") own.push(auth.tokenSource.name);
  const key = (name: string, labels: Record<string, string> = {}) => metricKey(name, { route: routeId, ...labels });
  const role = (r: string) => key("coalesce_requests_total", { role: r });
  const call = (o: string) => key("coalesce_calls_total", { outcome: o });
  return {
    varyHeaders: coalesce.varyHeaders,
    public: coalesce.public,
    credentialHeaders: credentialHeaders(own),
    maxResponseBytes: coalesce.maxResponseBytes,
    passTtlMs: coalesce.passTtlMs,
    maxWaiters: coalesce.maxWaiters,
    stateKey: JSON.stringify([routeId, identity.route, identity.targets]),
    metrics: {
      role: { leader: role("leader"), follower: role("follower"), alone: role("alone"), pass: role("pass"), bypass: role("bypass") },
      call: {
        shared: call("shared"),
        unshareable: call("unshareable"),
        tooLarge: call("too_large"),
        failed: call("failed"),
        alone: call("alone"),
      },
      followerTimeouts: key("coalesce_follower_timeouts_total"),
      varyMismatches: key("coalesce_vary_mismatches_total"),
      followers: histogramKeys("coalesce_followers_per_call", { route: routeId }, FOLLOWER_BUCKETS),
      bufferedBytes: key("coalesce_buffered_bytes"),
      bufferedBytesPeak: key("coalesce_buffered_bytes_peak"),
    },
  };
}

/** Coalescing merges reads: a route that matches neither GET nor HEAD has nothing to merge. */
export function coalesceIssues(methods: readonly string[] | undefined, at: IssueAt, issues: ConfigIssue[]): void {
  if (methods !== undefined && !methods.some((m) => m === "GET" || m === "HEAD")) {
    issues.push({ path: at(".coalesce"), message: "only applies to GET and HEAD, and the route matches neither" });
  }
}
