/**
 * How the CLI reads a config: JSON or YAML, from a file or standard input, and what it cannot
 * read is exit 2 with one line naming the file and, for a syntax error, the line and column.
 */
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { readConfigDocument } from "../../scripts/cli/input.ts";
import { findJsonSyntaxError, lineAndColumn } from "../../scripts/cli/json-syntax.ts";
import { cli, cliInProcess, configFiles } from "./cli-support.ts";

const { dir, writeText } = configFiles("edgegate-input-");

const CONFIG = {
  clusters: { api: { targets: [{ url: "https://api.internal.example.com", weight: 2 }] } },
  routes: [
    { id: "users", match: { path: "/users/:id", methods: ["GET"] }, cluster: "api", timeoutMs: 2_500 },
    { id: "orders", match: { path: "/orders/*" }, cluster: "api", rewrite: { stripPrefix: "/orders" } },
  ],
  observability: { accessLog: { sampleRate: 0.5, errors: true }, serverTiming: false },
};

const noStdin = () => Promise.reject(new Error("standard input is not read for a file"));
const stdin = (text: string | Uint8Array) => () => Promise.resolve(typeof text === "string" ? new TextEncoder().encode(text) : text);

/** The one line the CLI prints for an input that cannot be read, and its exit code. */
async function readError(args: string[], input?: string): Promise<string> {
  const run = await cliInProcess(args, {}, input);
  expect(run.code, run.stdout).toBe(2);
  expect(run.stderr.trimEnd().split("\n"), run.stderr).toHaveLength(1);
  return run.stderr.trimEnd();
}

describe("reading a config", () => {
  it("reads the same document from JSON and YAML, by extension or by content, from a file or standard input", async () => {
    const json = JSON.stringify(CONFIG, null, 2);
    const yaml = stringify(CONFIG);
    const sources = [
      ["config.json", json],
      ["config.yaml", yaml],
      ["config.YML", yaml],
      ["config.conf", yaml],
      ["config", json],
      // A BOM and Windows line ends are read like any other file.
      ["windows.yaml", `\uFEFF${yaml.replace(/\n/g, "\r\n")}`],
      ["windows.json", `\uFEFF${json.replace(/\n/g, "\r\n")}`],
    ] as const;
    for (const [name, text] of sources) {
      expect((await readConfigDocument(writeText(name, text), noStdin)).document, name).toEqual(CONFIG);
    }
    expect(await readConfigDocument("-", stdin(yaml))).toEqual({ name: "stdin", document: CONFIG });
    expect(await readConfigDocument("-", stdin(json))).toEqual({ name: "stdin", document: CONFIG });
    expect(await readConfigDocument("-", stdin(`# a comment first\n${yaml}`))).toEqual({ name: "stdin", document: CONFIG });
    // YAML's own spellings of the same values: anchors, block scalars, flow style, quoted keys.
    const spelled = [
      "clusters:",
      "  api: &api { targets: [ { url: 'https://api.internal.example.com', weight: 0x2 } ] }",
      "routes:",
      "  - { id: users, match: { path: /users/:id, methods: [GET] }, cluster: api, timeoutMs: 2_500 }",
      '  - "id": orders',
      "    match:",
      "      path: >-",
      "        /orders/*",
      "    cluster: api",
      "    rewrite: {stripPrefix: /orders}",
      "observability: {accessLog: {sampleRate: .5, errors: true}, serverTiming: false}",
    ].join("\n");
    const read = (await readConfigDocument("-", stdin(spelled))).document as typeof CONFIG;
    expect(read.clusters).toEqual(CONFIG.clusters);
    // YAML 1.2 has no digit separators: "2_500" is a string, which validation then refuses by its path.
    expect(read.routes[0]?.timeoutMs).toBe("2_500");
    expect(read.routes[1]).toEqual(CONFIG.routes[1]);
    expect(read.observability).toEqual(CONFIG.observability);
  });

  it("names the line and column of a JSON syntax error", async () => {
    const cases: Array<[string, string]> = [
      ['{\n  "routes": [],\n}', "3:1: is not valid JSON: expected a property name in double quotes, found '}'"],
      ['{\n  "routes": []\n  "clusters": {}\n}', "3:3: is not valid JSON: expected ',' or '}', found '\"'"],
      ['{"routes": [1, 2,]}', "1:18: is not valid JSON: expected a value, found ']'"],
      ['{"routes": [\n', "2:1: is not valid JSON: expected a value, found the end of the text"],
      ['{"a": "line\nbreak"}', "1:12: is not valid JSON: a control character (a line break or tab) inside a string must be escaped"],
      ['{"a": "\\x"}', "1:8: is not valid JSON: invalid escape in a string"],
      ['{"a": "never closed', "1:7: is not valid JSON: a string that is never closed starts here"],
      ["{'a': 1}", "1:2: is not valid JSON: expected a property name in double quotes, found '''"],
      ['{"a": 01}', "1:8: is not valid JSON: expected ',' or '}', found '1'"],
      ['{"a": 1} {"b": 2}', "1:10: is not valid JSON: unexpected '{' after the document"],
      ['{"a": tru}', "1:7: is not valid JSON: expected a value, found 't'"],
      ['{"a": \u000b1}', "1:7: is not valid JSON: expected a value, found U+000B"],
      ['[{"a": 1}, {"b" 2}]', "1:17: is not valid JSON: expected ':' after the property name, found '2'"],
    ];
    for (const [text, message] of cases) {
      expect(await readError(["validate", writeText("broken.json", text)]), text).toBe(`edgegate: ${dir}/broken.json:${message}`);
      expect(await readError(["validate", "-"], text), text).toBe(`edgegate: stdin:${message}`);
    }
  });

  it("finds a JSON syntax error exactly where JSON.parse refuses the text, and none where it does not", () => {
    const text = JSON.stringify({ ...CONFIG, extra: [true, false, null, -1.5e-3, 'a"b\\c\u0007\u00e9', {}, []] }, null, 1);
    const agrees = (candidate: string) => {
      let parses = true;
      try {
        JSON.parse(candidate);
      } catch {
        parses = false;
      }
      expect(findJsonSyntaxError(candidate) === null, candidate).toBe(parses);
    };
    for (let end = 0; end <= text.length; end++) agrees(text.slice(0, end));
    for (let at = 0; at < text.length; at++) {
      agrees(text.slice(0, at) + text.slice(at + 1));
      for (const inserted of [",", "}", "]", '"', "x", "\\", "0", "\n", "\u0001"]) agrees(text.slice(0, at) + inserted + text.slice(at));
    }
    expect(lineAndColumn("ab\ncd\r\nef", 7)).toEqual({ line: 3, column: 1 });
  });

  it("names the line and column of a YAML problem, and refuses what JSON cannot hold", async () => {
    const cases: Array<[string, string]> = [
      ["routes:\n  - id: a\n   cluster: b\n", "3:1: is not valid YAML: Sequence item without - indicator"],
      ["clusters: {}\nclusters: {}\nroutes: []\n", "2:1: is not valid YAML: Map keys must be unique"],
      ["routes: []\n---\nroutes: []\n", "2:1: is not valid YAML: Source contains multiple documents"],
      ["routes: !custom []\n", "1:9: is not valid YAML: Unresolved tag: !custom"],
      ["%YAML 1.1\n---\nroutes: !!set {a}\n", "3:9: is not valid YAML: Unresolved tag: tag:yaml.org,2002:set"],
      ["routes: []\nclusters: {a: {targets: [{url: x, weight: .inf}]}}\n", "2:43: '.inf' is not a number JSON can hold"],
      ["routes: [{timeoutMs: 1e999}]\n", "1:22: '1e999' is not a number JSON can hold"],
      ["routes: []\n? [a, b]\n: c\n", "2:3: a mapping key must be a plain value, not a collection"],
      ["routes: &r [*r]\n", " routes[0]: contains itself (an alias inside its own anchor), which JSON cannot"],
      ["routes: !!binary aGVsbG8=\n", " routes: is binary data, which JSON has no value for"],
    ];
    for (const [text, message] of cases) {
      const line = await readError(["validate", writeText("broken.yaml", text)]);
      expect(line, text).toContain(`edgegate: ${dir}/broken.yaml:${message}`);
      expect(await readError(["diff", "-"], text), text).toContain(`edgegate: stdin:${message}`);
    }
    // An alias bomb stops at the library's alias limit instead of expanding.
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x, x]",
      ..."bcdefghi".split("").map((name, i) => `${name}: &${name} [${Array(10).fill(`*${"abcdefghi"[i]}`).join(", ")}]`),
    ];
    expect(await readError(["validate", "-"], bomb.join("\n"))).toMatch(/^edgegate: stdin: cannot be read as YAML: .*alias/i);
  });

  it("refuses a document nested deeper than the admin API accepts, a file that is not UTF-8 text, empty, or missing", async () => {
    expect(await readError(["validate", "-"], `{"routes": ${"[".repeat(64)}${"]".repeat(64)}}`)).toBe(
      "edgegate: stdin: nests arrays and objects more than 64 levels deep",
    );
    expect(await readError(["validate", "-"], `routes: ${"[".repeat(64)}${"]".repeat(64)}`)).toBe(
      "edgegate: stdin: nests arrays and objects more than 64 levels deep (at routes[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0])",
    );
    // 63 levels inside the top-level object is the limit, and is read.
    expect((await cliInProcess(["validate", "-"], {}, `routes: ${"[".repeat(63)}${"]".repeat(63)}`)).code).toBe(1);
    await expect(readConfigDocument("-", stdin(new Uint8Array([0x7b, 0xff, 0x7d])))).rejects.toThrow("stdin: is not UTF-8 text");
    expect(await readError(["validate", "-"], " \n\t")).toBe("edgegate: stdin: is empty");
    expect(await readError(["validate", writeText("empty.yaml", "")])).toBe(`edgegate: ${dir}/empty.yaml: is empty`);
    expect(await readError(["validate", `${dir}/missing.json`])).toBe(`edgegate: ${dir}/missing.json: cannot be read: no such file`);
    expect(await readError(["validate", dir])).toBe(`edgegate: ${dir}: cannot be read: is a directory`);
  });

  it("says so in one line from a real process, with exit 2 and no stack", async () => {
    const yaml = await cli(["validate", "-"], {}, "routes:\n  - id: a\n   cluster: b\n");
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toBe("edgegate: stdin:3:1: is not valid YAML: Sequence item without - indicator\n");
    const json = await cli(["diff", writeText("broken-again.json", '{"routes": [,]}')]);
    expect(json.code).toBe(2);
    expect(json.stderr).toBe(`edgegate: ${dir}/broken-again.json:1:13: is not valid JSON: expected a value, found ','\n`);
    const none = await cli(["validate", "-"]);
    expect(none).toEqual({ code: 2, stdout: "", stderr: "edgegate: stdin: is empty\n" });
  });
});
