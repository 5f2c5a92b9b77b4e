/**
 * The config's JSON Schema: the committed file is what the generator writes (so `npm test` fails on
 * a stale one), every field has a description, and the schema takes the shipped example, with its
 * "$schema" key, and refuses what the gateway refuses for its structure. The CLI validates a config
 * that names the schema.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
// Ajv is in the tree already (Fastify's, for the test origins); the gateway itself never uses it.
import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { configJsonSchema, renderConfigJsonSchema, SCHEMA_FILE, schemaFileIsCurrent } from "./schema.ts";

const ROOT = resolve(import.meta.dirname, "..");
const EXAMPLES = resolve(ROOT, "examples");

type Node = Record<string, unknown>;

const example = () => JSON.parse(readFileSync(join(EXAMPLES, "config.json"), "utf8")) as Node & { routes: Node[] };

function run(script: string, args: readonly string[]) {
  return spawnSync(process.execPath, [resolve(ROOT, script), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "edgegate-schema-")), name);
  writeFileSync(path, text);
  return path;
}

describe("the committed JSON Schema", () => {
  it("is exactly what npm run schema writes", () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(renderConfigJsonSchema());
  });

  it("passes npm run schema -- --check, which fails on a file that differs", () => {
    const check = run("scripts/schema.ts", ["--check"]);
    expect(check.status, check.stderr).toBe(0);
    const stale = tempFile("stale.schema.json", readFileSync(SCHEMA_FILE, "utf8").replace("Default: 15000.", "Default: 10000."));
    expect(schemaFileIsCurrent(stale)).toBe(false);
    expect(schemaFileIsCurrent(join(tmpdir(), "no-such-dir", "edgegate.schema.json"))).toBe(false);
    expect(schemaFileIsCurrent()).toBe(true);
  });
});

describe("the JSON Schema's contents", () => {
  const schema = configJsonSchema() as Node;

  /** Every place a field's schema sits: object properties, record values, and list items that are objects. */
  function fields(node: Node, path: string, out: Array<[string, Node]>): Array<[string, Node]> {
    for (const [name, property] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
      out.push([`${path}.${name}`, property]);
      fields(property, `${path}.${name}`, out);
    }
    if (typeof node.additionalProperties === "object") {
      out.push([`${path}.NAME`, node.additionalProperties as Node]);
      fields(node.additionalProperties as Node, `${path}.NAME`, out);
    }
    if (typeof node.items === "object") {
      if ((node.items as Node).type === "object") out.push([`${path}[]`, node.items as Node]);
      fields(node.items as Node, `${path}[]`, out);
    }
    return out;
  }
  const all = fields(schema, "", []);

  it("describes every field, with its default and range", () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.filter(([, node]) => typeof node.description !== "string" || node.description.length < 10).map(([path]) => path)).toEqual(
      [],
    );
    const timeout = all.find(([path]) => path === ".routes[].timeoutMs")?.[1];
    expect(timeout).toMatchObject({ type: "integer", minimum: 1, maximum: 300_000, default: 15_000 });
    expect(timeout?.description).toMatch(/milliseconds.*Range: 1 to 300000\. Default: 15000\.$/);
  });

  it("refuses unknown fields in every object, and names the required ones", () => {
    const objects = all.filter(([, node]) => node.type === "object" && node.properties !== undefined);
    expect(objects.length).toBeGreaterThan(20);
    expect(objects.filter(([, node]) => node.additionalProperties !== false).map(([path]) => path)).toEqual([]);
    expect(schema).toMatchObject({ $schema: "http://json-schema.org/draft-07/schema#", required: ["clusters", "routes"] });
    expect(schema.additionalProperties).toBe(false);
    expect((schema.properties as Node).$schema).toMatchObject({ type: "string" });
    const route = ((schema.properties as Node).routes as Node).items as Node;
    expect(route.required).toEqual(["id", "match", "cluster"]);
    const policy = ((route.properties as Node).rateLimits as Node).items as Node;
    expect((policy.properties as Node).algorithm).toMatchObject({
      enum: ["fixed-window", "sliding-window", "token-bucket"],
      default: "fixed-window",
    });
  });
});

describe("the JSON Schema as an editor applies it", () => {
  const validate = new Ajv({ allErrors: true }).compile(configJsonSchema());
  const errors = (document: unknown) => (validate(document) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

  it("takes every example config, each naming the schema by a relative path", () => {
    const files = readdirSync(EXAMPLES).filter((name) => name.endsWith(".json"));
    expect(files).toContain("config.json");
    for (const name of files) {
      const document = JSON.parse(readFileSync(join(EXAMPLES, name), "utf8")) as Node;
      expect(document.$schema, name).toBe("../schema/edgegate.schema.json");
      expect(resolve(EXAMPLES, document.$schema as string)).toBe(SCHEMA_FILE);
      expect(errors(document), name).toEqual([]);
    }
  });

  it("refuses unknown fields at the top, in a route, in a breaker and in a rate-limit policy", () => {
    const config = example();
    const route = config.routes[0] as Node;
    expect(errors({ ...config, timeotMs: 1 })).toEqual([" must NOT have additional properties"]);
    expect(errors({ ...config, routes: [{ ...route, timeotMs: 1 }] })).toEqual(["/routes/0 must NOT have additional properties"]);
    const clusters = { demo: { targets: [{ url: "http://127.0.0.1:8788" }], breaker: { halfLife: 5 } } };
    expect(errors({ ...config, clusters })).toEqual(["/clusters/demo/breaker must NOT have additional properties"]);
    const rateLimits = [{ id: "a", limit: 1, windowSec: 1, windowMs: 1000 }];
    expect(errors({ ...config, routes: [{ ...route, rateLimits }] })).toEqual([
      "/routes/0/rateLimits/0 must NOT have additional properties",
    ]);
  });

  it("refuses wrong types, values out of range or off the list, and missing fields", () => {
    const config = example();
    const route = config.routes[0] as Node;
    expect(errors({ ...config, $schema: 1 })).toEqual(["/$schema must be string"]);
    expect(errors({ ...config, routes: [{ ...route, timeoutMs: 0 }] })).toEqual(["/routes/0/timeoutMs must be >= 1"]);
    expect(errors({ ...config, routes: [{ ...route, timeoutMs: 1.5 }] })).toEqual(["/routes/0/timeoutMs must be integer"]);
    expect(errors({ ...config, routes: [{ ...route, retry: { on: ["sometimes"] } }] })).toEqual([
      "/routes/0/retry/on/0 must be equal to one of the allowed values",
    ]);
    const { cluster: _, ...noCluster } = route;
    expect(errors({ ...config, routes: [noCluster] })).toEqual(["/routes/0 must have required property 'cluster'"]);
    expect(errors({ ...config, clusters: { "bad name": { targets: [{ url: "https://a.example.com" }] } } })).toContain(
      "/clusters property name must be valid",
    );
  });
});

describe("a config that names the schema, through the CLI", () => {
  it("validates the shipped example", () => {
    const validated = run("scripts/edgegate.ts", ["validate", "examples/config.json", "--allow-private-upstreams"]);
    expect(validated.status, validated.stderr).toBe(0);
    expect(validated.stdout).toMatch(/^examples\/config\.json: valid \(/);
  });

  it("validates a file with $schema, and names a typo's field with the one it meant", () => {
    const config = { ...example(), $schema: "./edgegate.schema.json" };
    const valid = run("scripts/edgegate.ts", ["validate", tempFile("valid.json", JSON.stringify(config)), "--allow-private-upstreams"]);
    expect(valid.status, valid.stderr).toBe(0);
    const typo = { ...config, routes: [{ ...config.routes[0], timeotMs: 100 }] };
    const refused = run("scripts/edgegate.ts", ["validate", tempFile("typo.json", JSON.stringify(typo)), "--allow-private-upstreams"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("routes[0].timeotMs: unknown field 'timeotMs' (did you mean 'timeoutMs'?)");
  });
});
