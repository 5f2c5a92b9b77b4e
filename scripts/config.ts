/**
 * edgegate config CLI.
 *
 *   npm run config -- validate <file> [--allow-private-upstreams]
 *   npm run config -- publish <file> --local|--remote [--allow-private-upstreams] [--persist-to DIR]
 *
 * Both validate with the same schema the Worker uses; publish refuses an invalid config and writes
 * nothing. Exit codes: 0 ok, 1 invalid config, 2 usage or I/O error.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type ConfigIssue, parseConfig } from "../src/config/schema.ts";
import { publishConfig } from "../src/config/store.ts";
import { wranglerKv } from "./lib/wrangler-kv.ts";

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

function printIssues(file: string, issues: ConfigIssue[]): void {
  console.error(`${file}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`);
  for (const issue of issues) console.error(`  ${issue.path}: ${issue.message}`);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    "allow-private-upstreams": { type: "boolean", default: false },
    local: { type: "boolean", default: false },
    remote: { type: "boolean", default: false },
    "persist-to": { type: "string" },
    binding: { type: "string", default: "CONFIG" },
  },
});
const [command, file] = positionals;
if ((command !== "validate" && command !== "publish") || !file)
  fail("usage: config validate|publish <file> [--local|--remote] [--allow-private-upstreams]");

let document: unknown;
try {
  document = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  fail(`${file}: cannot read as JSON (${error instanceof Error ? error.message : String(error)})`, 1);
}
const validation = { allowPrivateUpstreams: values["allow-private-upstreams"] };

if (command === "validate") {
  const parsed = parseConfig(document, validation);
  if (!parsed.ok) {
    printIssues(file, parsed.issues);
    process.exit(1);
  }
  console.log(`${file}: valid (${parsed.config.routes.length} routes, ${Object.keys(parsed.config.clusters).length} clusters)`);
} else {
  if (values.local === values.remote) fail("publish needs exactly one of --local or --remote");
  const kv = wranglerKv({ where: values.local ? "local" : "remote", binding: values.binding, persistTo: values["persist-to"] });
  const result = await publishConfig(kv, document, validation);
  if (!result.ok) {
    printIssues(file, result.issues);
    process.exit(1);
  }
  console.log(`published ${file} as version ${result.version} (${values.local ? "local" : "remote"} KV)`);
}
