/**
 * The config's JSON Schema, generated from the one valibot schema (src/config/schema.ts) into
 * schema/edgegate.schema.json, the file a config's "$schema" key points editors at: completion,
 * checks as you type, and every field's description on hover. `npm run schema` writes it;
 * `npm run schema -- --check` exits 1 when the committed file is not what it would write (a test
 * runs the check, so `npm test` catches a stale file).
 *
 * The JSON Schema states structure, types, enums, bounds, defaults, required fields and unknown
 * fields. The rules valibot checks in code (a URL's address, a path's form, references between
 * fields) are the gateway's and the CLI's to apply: `edgegate validate` says everything.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { type JsonSchema, toJsonSchema } from "@valibot/to-json-schema";
import { configSchema } from "../src/config/schema.ts";

const ROOT = resolve(import.meta.dirname, "..");

/** Where the schema is committed; examples/*.json name it by a relative path. */
export const SCHEMA_FILE = resolve(ROOT, "schema/edgegate.schema.json");

/**
 * Actions with no JSON Schema form, checked by the gateway alone: checks in code, the lower-casing
 * of header and host names (their patterns accept either case), and the finiteness of numbers
 * (JSON has no other kind).
 */
const CODE_ONLY_ACTIONS = ["check", "raw_check", "transform", "to_lower_case", "finite"];

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A default as the description quotes it; undefined for objects, whose fields state their own. */
function shownDefault(value: unknown): string | undefined {
  if (Array.isArray(value)) return `[${value.map((item) => JSON.stringify(item)).join(", ")}]`;
  return isNode(value) ? undefined : JSON.stringify(value);
}

/**
 * Editors show a field's description on hover, and not its bounds or default: the description
 * states them too, taken from the schema itself, so the text never disagrees with it. Keys in a
 * reading order (what it is, then the rest); no empty `required` lists.
 */
function polish(node: Node): Node {
  const out: Node = {};
  const notes: string[] = [];
  if (typeof node.minimum === "number" && typeof node.maximum === "number") notes.push(`Range: ${node.minimum} to ${node.maximum}.`);
  const fallback = shownDefault(node.default);
  if (fallback !== undefined) notes.push(`Default: ${fallback}.`);
  const description = typeof node.description === "string" ? [node.description, ...notes].join(" ") : undefined;
  const entries = Object.entries(node).filter(([key]) => key !== "description");
  const first = ["$schema", "title"];
  for (const key of first) if (key in node) out[key] = node[key];
  if (description !== undefined) out.description = description;
  for (const [key, value] of entries) {
    if (first.includes(key) || (key === "required" && Array.isArray(value) && value.length === 0)) continue;
    if (key === "properties" && isNode(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, property]) => [name, isNode(property) ? polish(property) : property]),
      );
    } else if (Array.isArray(value)) {
      out[key] = value.map((item) => (isNode(item) ? polish(item) : item));
    } else {
      out[key] = isNode(value) && key !== "default" && key !== "const" ? polish(value) : value;
    }
  }
  return out;
}

/** The config's JSON Schema (draft-07, which every editor reads). */
export function configJsonSchema(): JsonSchema {
  // The two deployments' schemas differ only in checks made in code, which the JSON Schema leaves out.
  const schema = toJsonSchema(configSchema({ allowPrivateUpstreams: false }), {
    target: "draft-07",
    ignoreActions: CODE_ONLY_ACTIONS,
  });
  return polish(schema as Node) as JsonSchema;
}

/** The schema file's text, exactly as committed: in Biome's format, so `npm run lint` passes it as it is. */
export function renderConfigJsonSchema(): string {
  const biome = spawnSync(resolve(ROOT, "node_modules/.bin/biome"), ["format", `--stdin-file-path=${SCHEMA_FILE}`], {
    input: JSON.stringify(configJsonSchema(), null, 2),
    encoding: "utf8",
  });
  if (biome.status !== 0) throw new Error(`biome format failed: ${biome.error?.message ?? biome.stderr.trim()}`);
  return biome.stdout;
}

/** Whether the file at `path` holds what the generator writes. */
export function schemaFileIsCurrent(path = SCHEMA_FILE): boolean {
  let committed: string;
  try {
    committed = readFileSync(path, "utf8");
  } catch {
    return false;
  }
  return committed === renderConfigJsonSchema();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const name = relative(process.cwd(), SCHEMA_FILE);
  if (process.argv.includes("--check")) {
    if (!schemaFileIsCurrent()) {
      process.stderr.write(`${name} is not what the config schema generates: run npm run schema, and commit the result\n`);
      process.exit(1);
    }
    process.stdout.write(`${name} is up to date\n`);
  } else {
    writeFileSync(SCHEMA_FILE, renderConfigJsonSchema());
    process.stdout.write(`wrote ${name}\n`);
  }
}
