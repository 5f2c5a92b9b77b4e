/**
 * `breaker_transitions_total{cluster,to}`: a target's state change, counted where it is decided (the
 * cluster's breaker object, or an isolate judging alone while the object is unreachable or unbound).
 */
import { metricKey } from "../metrics.ts";
import type { TargetState } from "./state.ts";

const keys = new Map<string, string>();

/** The counter key of a transition of a target of `cluster` into `to`; rendered once per pair (bounded by the config's clusters). */
export function transitionKey(cluster: string, to: TargetState): string {
  const id = `${cluster}\n${to}`;
  let key = keys.get(id);
  if (key === undefined) {
    key = metricKey("breaker_transitions_total", { cluster, to });
    keys.set(id, key);
  }
  return key;
}
