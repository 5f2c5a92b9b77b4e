/**
 * Unknown fields: the known fields of the object at a path of a valibot schema, the one a typo most
 * likely meant, and the message a user reads. Pure.
 */
import type * as v from "valibot";

/** What leads from a valibot schema to the ones nested in it; a schema with a pipe carries its first schema's. */
interface SchemaNode {
  type: string;
  entries?: Readonly<Record<string, SchemaNode>>;
  item?: SchemaNode;
  value?: SchemaNode;
  wrapped?: SchemaNode;
  options?: readonly SchemaNode[];
}

const WRAPPERS: ReadonlySet<string> = new Set([
  "optional",
  "exact_optional",
  "nullish",
  "nullable",
  "undefinedable",
  "non_optional",
  "non_nullable",
  "non_nullish",
]);
const OBJECTS: ReadonlySet<string> = new Set(["object", "strict_object", "loose_object", "object_with_rest"]);

/** The schemas a value is checked by: wrappers unwrapped, each option of a union. */
function expand(node: SchemaNode): SchemaNode[] {
  if (WRAPPERS.has(node.type) && node.wrapped) return expand(node.wrapped);
  if ((node.type === "union" || node.type === "variant") && node.options) return node.options.flatMap(expand);
  return [node];
}

function child(node: SchemaNode, key: PropertyKey): SchemaNode | undefined {
  if (OBJECTS.has(node.type))
    return typeof key === "string" && node.entries && Object.hasOwn(node.entries, key) ? node.entries[key] : undefined;
  if (node.type === "array") return node.item;
  if (node.type === "record") return node.value;
  return undefined;
}

/** The field names of the object schema at `path` (keys from the root) in `schema`, in schema order; [] when none is there. */
export function knownFields(schema: v.GenericSchema, path: readonly PropertyKey[]): string[] {
  let nodes = expand(schema as unknown as SchemaNode);
  for (const key of path) {
    nodes = nodes.flatMap((node) => {
      const next = child(node, key);
      return next ? expand(next) : [];
    });
  }
  return [...new Set(nodes.flatMap((node) => (OBJECTS.has(node.type) && node.entries ? Object.keys(node.entries) : [])))];
}

/** Units the config's names end in: `timeout` or `timeoutSec` most likely meant `timeoutMs`. */
const UNIT_SUFFIX = /(?:Ms|Millis|Milliseconds|Sec|Secs|Seconds|Bytes)$/;

/** Optimal string alignment distance (edits, adjacent swaps counting one), or Infinity past `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return Number.POSITIVE_INFINITY;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (beforePrevious[j - 2] as number) + 1);
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The known field `name` most likely meant, or undefined when none is close: the same name in another
 * case, then the same name with another unit (or none), then the nearest within a few edits (none for
 * names under 3 characters, one up to 5, two beyond), ties going to the first in schema order.
 */
export function closestField(name: string, known: readonly string[]): string | undefined {
  if (name.length > 64) return undefined;
  const lower = name.toLowerCase();
  const sameCase = known.find((field) => field.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  const stem = (field: string) => field.replace(UNIT_SUFFIX, "").toLowerCase();
  const nameStem = stem(name);
  const otherUnit = nameStem.length >= 3 ? known.find((field) => stem(field) === nameStem) : undefined;
  if (otherUnit !== undefined) return otherUnit;
  const max = name.length < 3 ? 0 : name.length < 6 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = max + 1;
  for (const field of known) {
    const distance = editDistance(lower, field.toLowerCase(), max);
    if (distance < bestDistance) {
      best = field;
      bestDistance = distance;
    }
  }
  return best;
}

/** A field name as a message quotes it: printable, and not past 64 characters. */
function quoted(name: string): string {
  const shown = name.length > 64 ? `${name.slice(0, 64)}...` : name;
  return `'${JSON.stringify(shown).slice(1, -1)}'`;
}

/** `unknown field 'timeotMs' (did you mean 'timeoutMs'?)`, the suggestion only when a known field is close. */
export function unknownFieldMessage(name: string, known: readonly string[]): string {
  const suggestion = closestField(name, known);
  return suggestion === undefined ? `unknown field ${quoted(name)}` : `unknown field ${quoted(name)} (did you mean '${suggestion}'?)`;
}
