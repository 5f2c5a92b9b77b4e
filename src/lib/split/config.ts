/**
 * A route's `split` block (weighted splits between clusters, canaries): the schema, the compiled
 * form, the compile step and the checks across fields. Defaults and their reasoning:
 * docs/traffic-management.md.
 */
import * as v from "valibot";
import type { CompiledCluster } from "../cluster/config.ts";
import {
  COOKIE_NAME,
  type ConfigIssue,
  cookieName,
  described,
  HEADER_NAME,
  headerName,
  type IssueAt,
  name,
  percent,
  SPOOFABLE_ADDRESS_HEADERS,
} from "../config/fields.ts";
import { metricKey } from "../metrics.ts";
import { parseStickyKey, type StickyKey, sideBounds } from "./buckets.ts";

/** What keeps one caller on one side of a split: `ip`, `subject`, `header:<name>` or `cookie:<name>`. */
const stickyKey = v.pipe(
  v.string("must be a string"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const key = dataset.value;
    if (key === "ip" || key === "subject") return;
    if (key.startsWith("header:") && HEADER_NAME.test(key.slice(7))) {
      if (SPOOFABLE_ADDRESS_HEADERS.has(key.slice(7)))
        addIssue({ message: `keys on '${key.slice(7)}', which any client can set; use 'ip'` });
      return;
    }
    if (key.startsWith("cookie:") && COOKIE_NAME.test(key.slice(7))) return;
    addIssue({ message: "must be 'ip', 'subject', 'header:<name>' or 'cookie:<name>'" });
  }),
  v.examples(["ip", "subject", "header:x-user-id", "cookie:session"]),
);

export const splitSchema = v.strictObject({
  to: described(
    v.pipe(
      v.array(
        described(
          v.strictObject({
            cluster: described(name, "A cluster that takes a share of the route's traffic."),
            percent: described(percent, "Its share of the route's traffic, in percent (down to 0.01)."),
          }),
          "One cluster and its share.",
        ),
        "must be an array",
      ),
      v.minLength(1, "must not be empty"),
      v.maxLength(8, "must have at most 8 clusters"),
    ),
    "Clusters that take a share of the route's traffic from its cluster, which keeps the rest; up to 8, adding up to at most 100%.",
  ),
  sticky: v.optional(
    described(
      stickyKey,
      "What keeps one caller on one side: subject (the JWT subject or API-key consumer; needs auth), ip (the client address), header:<name> or cookie:<name>. A request without it is assigned at random. Unset: every request is assigned afresh.",
    ),
  ),
  override: v.optional(
    described(
      v.strictObject({
        header: v.optional(described(headerName, "A request header whose value names one of the route's clusters.")),
        cookie: v.optional(described(cookieName, "A cookie whose value names one of the route's clusters.")),
      }),
      "A request whose header or cookie names one of the route's clusters goes there, whatever the shares say (for testing). Anyone who knows the name can use it.",
    ),
  ),
});

export type SplitConfig = v.InferOutput<typeof splitSchema>;

export interface CompiledSplit {
  /** The split's clusters in bucket order; the route's own cluster last (it takes the rest). */
  sides: readonly CompiledCluster[];
  /** Upper bucket bound of each side (see buckets.ts). */
  bounds: readonly number[];
  sticky: StickyKey | null;
  override: { header: string | null; cookie: string | null } | null;
  /** `split_requests_total{route,cluster,how}` keys by side: how = sticky, random or override. */
  metrics: ReadonlyArray<Record<"sticky" | "random" | "override", string>>;
}

export function compileSplit(
  routeId: string,
  split: SplitConfig,
  primary: CompiledCluster,
  clusters: ReadonlyMap<string, CompiledCluster>,
): CompiledSplit {
  const sides = [...split.to.map((target) => clusters.get(target.cluster) as CompiledCluster), primary];
  return {
    sides,
    bounds: sideBounds(split.to.map((target) => target.percent)),
    sticky: split.sticky ? parseStickyKey(split.sticky) : null,
    override: split.override ? { header: split.override.header ?? null, cookie: split.override.cookie ?? null } : null,
    metrics: sides.map((side) => {
      const key = (how: string) => metricKey("split_requests_total", { route: routeId, cluster: side.name, how });
      return { sticky: key("sticky"), random: key("random"), override: key("override") };
    }),
  };
}

/** Checks of a split against the route and the config's clusters. */
export function splitIssues(
  split: SplitConfig,
  route: { cluster: string; auth?: unknown },
  knownCluster: (name: string) => boolean,
  at: IssueAt,
  issues: ConfigIssue[],
): void {
  const seen = new Set<string>([route.cluster]);
  let total = 0;
  split.to.forEach((target, j) => {
    if (!knownCluster(target.cluster))
      issues.push({ path: at(`.split.to[${j}].cluster`), message: `names cluster '${target.cluster}', which is not defined in clusters` });
    else if (seen.has(target.cluster))
      issues.push({ path: at(`.split.to[${j}].cluster`), message: `'${target.cluster}' already takes part in this split` });
    seen.add(target.cluster);
    total += target.percent;
  });
  if (total > 100) issues.push({ path: at(".split.to"), message: `shares add up to ${total}%, more than 100%` });
  if (split.sticky === "subject" && route.auth === undefined) {
    issues.push({ path: at(".split.sticky"), message: "'subject' needs an authenticated caller; the route has no auth block" });
  }
  if (split.override && split.override.header === undefined && split.override.cookie === undefined) {
    issues.push({ path: at(".split.override"), message: "must name a header or a cookie" });
  }
}
