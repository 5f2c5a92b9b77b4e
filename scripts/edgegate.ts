/**
 * edgegate config CLI.
 *
 *   npm run config -- validate <file> [--allow-private-upstreams]
 *   npm run config -- publish <file> --local|--remote [--allow-private-upstreams] [--persist-to DIR]
 *   npm run config -- api-key create --consumer NAME [--scopes a,b] [--rate-limit-key K] [--expires-at ISO] --local|--remote
 *   npm run config -- api-key revoke <key-or-sha256> --local|--remote
 *
 * validate and publish use the same schema the Worker uses; publish refuses an invalid config and
 * writes nothing. `api-key create` prints the new key once; only its SHA-256 is stored.
 * Exit codes: 0 ok, 1 invalid config, 2 usage or I/O error.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type ConfigIssue, parseConfig } from "../src/config/schema.ts";
import { publishConfig } from "../src/config/store.ts";
import { createApiKey, revokeApiKey } from "../src/services/api-keys/store.ts";
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
    consumer: { type: "string" },
    scopes: { type: "string" },
    "rate-limit-key": { type: "string" },
    "expires-at": { type: "string" },
  },
});
const [command, file] = positionals;

function targetKv() {
  if (values.local === values.remote) fail(`${command} needs exactly one of --local or --remote`);
  return wranglerKv({ where: values.local ? "local" : "remote", binding: values.binding, persistTo: values["persist-to"] });
}

if (command === "api-key") {
  const action = positionals[1];
  try {
    if (action === "create") {
      if (!values.consumer) fail("api-key create needs --consumer NAME");
      const expiresAt = values["expires-at"];
      if (expiresAt !== undefined && Number.isNaN(Date.parse(expiresAt))) fail("--expires-at must be an ISO time");
      const { key, record } = await createApiKey(targetKv(), {
        consumer: values.consumer,
        scopes: values.scopes
          ? values.scopes
              .split(",")
              .map((scope) => scope.trim())
              .filter(Boolean)
          : [],
        ...(values["rate-limit-key"] ? { rateLimitKey: values["rate-limit-key"] } : {}),
        ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
      });
      console.error(`created a key for consumer '${record.consumer}' (sha256 ${record.hash}); it is shown once:`);
      console.log(key);
    } else if (action === "revoke" && positionals[2]) {
      const hash = await revokeApiKey(targetKv(), positionals[2]);
      console.log(`revoked key sha256 ${hash}; isolates stop accepting it within the routes' apiKey.cacheTtlSec`);
    } else {
      fail("usage: config api-key create --consumer NAME [--scopes a,b] --local|--remote | api-key revoke <key> --local|--remote");
    }
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  process.exit(0);
}
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
  const result = await publishConfig(targetKv(), document, validation);
  if (!result.ok) {
    printIssues(file, result.issues);
    process.exit(1);
  }
  console.log(`published ${file} as version ${result.version} (${values.local ? "local" : "remote"} KV)`);
}
