/**
 * Reads a config document from a file or standard input ("-"), as JSON or YAML: by the file's
 * extension (.json; .yaml or .yml), otherwise by its content (JSON starts with "{" or "["). What
 * cannot be read is an InputError (exit 2) naming the file and, for a syntax error, its line and
 * column. YAML is read as YAML 1.2's core schema and must describe a JSON value: no duplicate keys,
 * no tags JSON has no value for, no .inf or .nan, no keys that are collections.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { isCollection, LineCounter, parseDocument, visit } from "yaml";
import { nestsDeeperThan } from "../../src/lib/json-document.ts";
import { InputError, oneLine } from "./errors.ts";
import { findJsonSyntaxError, lineAndColumn } from "./json-syntax.ts";

/** The admin API's bound on nesting (a config is about 7 levels deep): a deeper file would be refused there. */
const MAX_DEPTH = 64;

/** A config document and the name its messages use: the path, or "stdin". */
export interface ConfigDocument {
  name: string;
  document: unknown;
}

/** Reads `source` (a path, or "-" for standard input) as a config document. */
export async function readConfigDocument(source: string, readStdin: () => Promise<Uint8Array>): Promise<ConfigDocument> {
  const name = source === "-" ? "stdin" : source;
  const bytes = source === "-" ? await readStdin() : await readFileBytes(source);
  let text: string;
  try {
    // fatal: malformed UTF-8 is refused rather than replaced with U+FFFD; a leading BOM is dropped.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${name}: is not UTF-8 text`);
  }
  if (text.trim() === "") throw new InputError(`${name}: is empty`);
  const extension = source === "-" ? "" : extname(source).toLowerCase();
  const yaml = extension === ".yaml" || extension === ".yml" || (extension !== ".json" && !/^\s*[{[]/.test(text));
  return { name, document: yaml ? parseYaml(name, text) : parseJson(name, text) };
}

async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES" || code === "EPERM"
            ? "permission denied"
            : oneLine(error instanceof Error ? error.message : String(error));
    throw new InputError(`${path}: cannot be read: ${reason}`);
  }
}

function parseJson(name: string, text: string): unknown {
  // Before parsing, as the gateway does: whatever walks the value next (validation, the diff) recurses.
  if (nestsDeeperThan(text, MAX_DEPTH)) throw new InputError(`${name}: nests arrays and objects more than ${MAX_DEPTH} levels deep`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const syntax = findJsonSyntaxError(text);
    if (!syntax) throw new InputError(`${name}: is not valid JSON: ${oneLine(error instanceof Error ? error.message : String(error))}`);
    const { line, column } = lineAndColumn(text, syntax.offset);
    throw new InputError(`${name}:${line}:${column}: is not valid JSON: ${syntax.message}`);
  }
}

function parseYaml(name: string, text: string): unknown {
  const lines = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${name}:${line}:${col}`;
  };
  let parsed: ReturnType<typeof parseDocument>;
  try {
    // logLevel "error": the library's warnings come back in `warnings` below, never on stderr.
    parsed = parseDocument(text, { schema: "core", lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: "error" });
  } catch (error) {
    throw new InputError(`${name}: cannot be read as YAML: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
  // Warnings count as errors: an unresolved tag would otherwise quietly become a string.
  const problems = [...parsed.errors, ...parsed.warnings];
  const first = problems[0];
  if (first) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : "";
    throw new InputError(`${at(first.pos[0])}: is not valid YAML: ${oneLine(first.message)}${more}`);
  }
  visit(parsed, {
    Pair(_, pair) {
      // JavaScript would turn such a key into a string; JSON has no such key at all.
      if (isCollection(pair.key)) {
        throw new InputError(`${pair.key.range ? at(pair.key.range[0]) : name}: a mapping key must be a plain value, not a collection`);
      }
    },
    Scalar(_, scalar) {
      if (typeof scalar.value === "number" && !Number.isFinite(scalar.value)) {
        const source = scalar.source ?? String(scalar.value);
        throw new InputError(`${scalar.range ? at(scalar.range[0]) : name}: '${source}' is not a number JSON can hold`);
      }
    },
  });
  let value: unknown;
  try {
    value = parsed.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(`${name}: cannot be read as YAML: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
  const problem = nonJsonValue(value, 0, "");
  if (problem) throw new InputError(`${name}: ${problem}`);
  return value;
}

/**
 * What keeps a parsed YAML value from being a JSON document (nesting past MAX_DEPTH, a value JSON
 * has no type for, an alias inside its own anchor), with its field path; null when there is
 * nothing. Recurses at most MAX_DEPTH + 1 levels. `inside` holds the collections on the way here.
 */
function nonJsonValue(value: unknown, depth: number, path: string, inside = new Set<object>()): string | null {
  const where = path || "the document";
  if (value === null || typeof value === "string" || typeof value === "boolean") return null;
  if (typeof value === "number") return Number.isFinite(value) ? null : `${where}: ${value} is not a number JSON can hold`;
  const isArray = Array.isArray(value);
  const prototype = typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
  if (!isArray && prototype !== Object.prototype && prototype !== null) {
    const kind = value instanceof Date ? "a timestamp" : value instanceof Uint8Array ? "binary data" : `a ${typeof value}`;
    return `${where}: is ${kind}, which JSON has no value for`;
  }
  const collection = value as object;
  if (inside.has(collection)) return `${where}: contains itself (an alias inside its own anchor), which JSON cannot`;
  if (depth >= MAX_DEPTH) return `nests arrays and objects more than ${MAX_DEPTH} levels deep (at ${path || "the top"})`;
  inside.add(collection);
  const entries: Array<[string, unknown]> = isArray
    ? (collection as unknown[]).map((item, i) => [`${path}[${i}]`, item])
    : Object.entries(collection).map(([key, item]) => [path ? `${path}.${key}` : key, item]);
  for (const [at, item] of entries) {
    const problem = nonJsonValue(item, depth + 1, at, inside);
    if (problem) return problem;
  }
  inside.delete(collection);
  return null;
}
