/**
 * A config diff as the CLI prints it: for people, one line per changed field with its value before
 * and after (`~ routes[users].timeoutMs: 15000 -> 2000`), per entry added or removed, and per route
 * moved; for programs (`diff --json`), the diff's own structure with the values.
 */
import { type ConfigChange, routeKey } from "../../src/config/diff.ts";
import type { Output } from "./output.ts";

/** Longer values are cut in the text; `--json` has them whole. */
const MAX_VALUE_CHARS = 120;

const SIGN = { added: "+", removed: "-", changed: "~", moved: "~" } as const;

/** The JSON document `diff --json` prints. */
export interface DiffJson {
  /** The deployed version the file was compared with; null when nothing is published. */
  against: string | null;
  changes: ConfigChange[];
}

/** `diff --json`: one document, values whole; a field missing on one side has no `before` or `after`. */
export function diffJson(changes: ConfigChange[], against: string | null): string {
  const document: DiffJson = { against, changes };
  return JSON.stringify(document, null, 2);
}

/** The diff for people, with the documents it was made from (for the positions of moved routes). */
export function printDiff(output: Output, changes: ConfigChange[], against: string | null, before: unknown, after: unknown): void {
  const base = against ?? "an empty gateway";
  if (changes.length === 0) {
    output.out(`no changes against ${base}`);
    return;
  }
  output.out(`${changes.length} change${changes.length === 1 ? "" : "s"} against ${base}:`);
  for (const change of changes) for (const line of changeLines(change, before, after)) output.out(`  ${line}`);
}

function changeLines(change: ConfigChange, before: unknown, after: unknown): string[] {
  const sign = SIGN[change.kind];
  if (change.kind === "moved") return movedLines(change, before, after);
  if (change.kind !== "changed" || !change.values) {
    // An entry added or removed whole: its name (`--json` has its content).
    return [`${sign} ${change.entry}${change.kind === "changed" ? `: ${change.fields.join(", ")}` : ""}`];
  }
  return change.values.map((value) => `${sign} ${fieldPath(change.entry, value.field)}: ${show(value.before)} -> ${show(value.after)}`);
}

/**
 * `routes[users]` and `timeoutMs` make `routes[users].timeoutMs`; a top-level entry's fields are
 * paths from the top already (`observability.serverTiming`), and "" is the entry itself.
 */
function fieldPath(entry: string, field: string): string {
  if (field === "") return entry;
  if (field === entry || field.startsWith(`${entry}.`) || field.startsWith(`${entry}[`)) return field;
  return field.startsWith("[") ? `${entry}${field}` : `${entry}.${field}`;
}

/** A value as JSON on one line, cut after MAX_VALUE_CHARS; "(none)" for a field that is missing. */
function show(value: unknown): string {
  if (value === undefined) return "(none)";
  const text = JSON.stringify(value);
  return text.length <= MAX_VALUE_CHARS ? text : `${text.slice(0, MAX_VALUE_CHARS)}... (${text.length} characters; --json shows all)`;
}

/**
 * The routes that moved, as few as explain the new order: the routes kept on both sides that are
 * not in a longest run already in the old order (the others kept their order relative to each
 * other). Each with its index in the routes of each document.
 */
function movedLines(change: ConfigChange, before: unknown, after: unknown): string[] {
  const order = change.values?.[0];
  if (!order || !Array.isArray(order.before) || !Array.isArray(order.after)) return [`~ ${change.entry}`];
  const rank = new Map((order.before as string[]).map((id, i) => [id, i]));
  const ranks = (order.after as string[]).map((id) => rank.get(id) ?? -1);
  const staying = longestIncreasingRun(ranks);
  const positionsBefore = positions(before);
  const positionsAfter = positions(after);
  return (order.after as string[])
    .filter((_, i) => !staying.has(i))
    .map((id) => `~ routes[${id}] (position): ${positionsBefore.get(id) ?? "?"} -> ${positionsAfter.get(id) ?? "?"}`);
}

/** Each route's index in a document's routes, keyed as the diff keys them (first place). */
function positions(document: unknown): Map<string, number> {
  const found = new Map<string, number>();
  const routes = (document as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(routes)) return found;
  for (const [i, route] of routes.entries()) {
    const key = routeKey(route);
    if (!found.has(key)) found.set(key, i);
  }
  return found;
}

/** The indexes of one longest strictly increasing subsequence of `values` (patience sorting, n log n). */
export function longestIncreasingRun(values: readonly number[]): Set<number> {
  // tails[k]: the index of the smallest last value of an increasing run of length k + 1 seen so far.
  const tails: number[] = [];
  const previous = new Array<number>(values.length).fill(-1);
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    let low = 0;
    let high = tails.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((values[tails[middle] as number] as number) < value) low = middle + 1;
      else high = middle;
    }
    if (low > 0) previous[i] = tails[low - 1] as number;
    tails[low] = i;
  }
  const run = new Set<number>();
  for (let i = tails.at(-1) ?? -1; i !== -1; i = previous[i] as number) run.add(i);
  return run;
}
