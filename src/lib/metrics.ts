/**
 * Counters kept in isolate memory: what the gateway decided and how its backends behaved. They
 * are per isolate by nature (each isolate counts what it saw), which is why module scope is the
 * right home; GET /__gateway/admin/metrics reads the isolate that serves the call.
 */

/** A counter's identity: its name and labels, rendered once (at config compile) so counting is one Map update. */
export function metricKey(name: string, labels: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(",")}}`;
}

const counters = new Map<string, number>();

/** Adds `by` (default 1) to the counter `key` (from metricKey). */
export function count(key: string, by = 1): void {
  counters.set(key, (counters.get(key) ?? 0) + by);
}

/** Raises the gauge `key` to `value` if that is more than it holds: a high-water mark. */
export function countMax(key: string, value: number): void {
  if (value > (counters.get(key) ?? 0)) counters.set(key, value);
}

/** Every counter of this isolate, sorted by key. */
export function counterSnapshot(): Record<string, number> {
  return Object.fromEntries([...counters.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
