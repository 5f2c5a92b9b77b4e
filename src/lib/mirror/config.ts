/**
 * A route's `mirror` block (shadow traffic): the schema, the compiled form, the compile step and the
 * checks against the config's clusters. Defaults and their reasoning: docs/traffic-management.md.
 */
import * as v from "valibot";
import type { CompiledCluster } from "../cluster/config.ts";
import { type ConfigIssue, described, durationMs, type IssueAt, integer, name, percent } from "../config/fields.ts";
import { metricKey } from "../metrics.ts";

export const mirrorSchema = v.strictObject({
  cluster: described(name, "Where the copies go (not the route's own cluster); its answers are discarded."),
  percent: v.optional(described(percent, "Share of the route's requests copied, in percent."), 100),
  maxBodyBytes: v.optional(
    described(
      integer(0, 16 * 1024 * 1024),
      "A request with a body is copied only when its declared length is at most this many bytes; larger bodies, or bodies of unknown length, are not copied.",
    ),
    64 * 1024,
  ),
  timeoutMs: v.optional(described(durationMs(60_000), "A copy still unanswered after this many milliseconds is abandoned."), 5_000),
});

export type MirrorConfig = v.InferOutput<typeof mirrorSchema>;

export interface CompiledMirror {
  cluster: CompiledCluster;
  /** Share of requests copied, in basis points of 10,000. */
  basisPoints: number;
  maxBodyBytes: number;
  timeoutMs: number;
  metrics: Record<"sent" | "failed" | "skippedBody", string>;
}

export function compileMirror(routeId: string, mirror: MirrorConfig, clusters: ReadonlyMap<string, CompiledCluster>): CompiledMirror {
  const key = (outcome: string) => metricKey("mirror_requests_total", { route: routeId, outcome });
  return {
    cluster: clusters.get(mirror.cluster) as CompiledCluster,
    basisPoints: Math.round(mirror.percent * 100),
    maxBodyBytes: mirror.maxBodyBytes,
    timeoutMs: mirror.timeoutMs,
    metrics: { sent: key("sent"), failed: key("failed"), skippedBody: key("skipped_body") },
  };
}

/** A mirror must name a defined cluster other than the route's own. */
export function mirrorIssues(
  mirror: MirrorConfig,
  routeCluster: string,
  knownCluster: (name: string) => boolean,
  at: IssueAt,
  issues: ConfigIssue[],
): void {
  if (!knownCluster(mirror.cluster))
    issues.push({ path: at(".mirror.cluster"), message: `names cluster '${mirror.cluster}', which is not defined in clusters` });
  else if (mirror.cluster === routeCluster) issues.push({ path: at(".mirror.cluster"), message: "is the route's own cluster" });
}
