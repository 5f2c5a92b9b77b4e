/**
 * edgegate CLI: manage a gateway's config through its admin API, or local KV directly.
 *
 *   edgegate validate <file> [--allow-private-upstreams]     the gateway's own checks, offline
 *   edgegate diff <file> [--exit-code]                         what publishing <file> would change
 *   edgegate publish <file> [--expect VERSION | --force]       validate, diff, publish a new version
 *   edgegate publish <file> --local|--remote                   write KV directly (wrangler), no admin API
 *   edgegate get                                               the current config, as JSON on stdout
 *   edgegate versions                                          versions made current, newest first
 *   edgegate rollback <version> [--expect VERSION | --force]   make an earlier version current again
 *   edgegate api-key create --consumer NAME [--scopes a,b] [--rate-limit-key K] [--expires-at ISO] --local|--remote
 *   edgegate api-key revoke <key-or-sha256> --local|--remote
 *
 * The admin API commands take --url (or EDGEGATE_URL, default http://localhost:8787) and --token
 * (or EDGEGATE_ADMIN_TOKEN). publish reads the current version first and publishes only over that
 * one (If-Match), so a publish made by someone else in between is refused, not overwritten.
 *
 * Exit codes: 0 done; 1 the config is invalid, or `diff --exit-code` found changes; 2 usage error or
 * unreadable file; 3 the gateway could not be reached, refused the token, or failed; 4 conflict:
 * the config changed since it was read (publish again after a fresh diff).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type ConfigChange, diffConfigs } from "../src/config/diff.ts";
import { exposureWarnings } from "../src/config/exposure.ts";
import { parseConfig } from "../src/config/schema.ts";
import { publishConfig } from "../src/config/store.ts";
import type { ConfigIssue } from "../src/lib/config/fields.ts";
import { createApiKey, revokeApiKey } from "../src/services/api-keys/store.ts";
import { wranglerKv } from "./lib/wrangler-kv.ts";

const EXIT = { ok: 0, invalid: 1, usage: 2, gateway: 3, conflict: 4 } as const;

class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

function printIssues(what: string, issues: ConfigIssue[]): void {
  console.error(`${what}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`);
  for (const issue of issues) console.error(`  ${issue.path}: ${issue.message}`);
}

/** Warnings do not refuse a config (the exit code stays 0); each names its field path. */
function printWarnings(what: string, warnings: ConfigIssue[]): void {
  if (warnings.length === 0) return;
  console.error(`${what}: ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`);
  for (const warning of warnings) console.error(`  ${warning.path}: ${warning.message}`);
}

function printChanges(changes: ConfigChange[], against: string | null): void {
  if (changes.length === 0) {
    console.log(`no changes against ${against ?? "an empty gateway"}`);
    return;
  }
  console.log(`${changes.length} change${changes.length === 1 ? "" : "s"} against ${against ?? "an empty gateway"}:`);
  const sign = { added: "+", removed: "-", changed: "~", moved: "~" } as const;
  for (const change of changes) {
    console.log(`  ${sign[change.kind]} ${change.entry}${change.fields.length > 0 ? `: ${change.fields.join(", ")}` : ""}`);
  }
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    "allow-private-upstreams": { type: "boolean", default: false },
    local: { type: "boolean", default: false },
    remote: { type: "boolean", default: false },
    "persist-to": { type: "string" },
    binding: { type: "string", default: "CONFIG" },
    url: { type: "string", default: process.env.EDGEGATE_URL ?? "http://localhost:8787" },
    token: { type: "string", default: process.env.EDGEGATE_ADMIN_TOKEN },
    expect: { type: "string" },
    force: { type: "boolean", default: false },
    "exit-code": { type: "boolean", default: false },
    consumer: { type: "string" },
    scopes: { type: "string" },
    "rate-limit-key": { type: "string" },
    "expires-at": { type: "string" },
  },
});
const [command, argument] = positionals;

function readDocument(file: string | undefined): unknown {
  if (!file) throw new CliError(`usage: edgegate ${command} <file>`, EXIT.usage);
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new CliError(`${file}: cannot read as JSON (${error instanceof Error ? error.message : String(error)})`, EXIT.usage);
  }
}

function directKv() {
  if (values.local === values.remote) throw new CliError(`${command} needs exactly one of --local or --remote`, EXIT.usage);
  return wranglerKv({ where: values.local ? "local" : "remote", binding: values.binding, persistTo: values["persist-to"] });
}

interface AdminAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** One admin API call; problems the gateway answered are returned, transport failures thrown. */
async function admin(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<AdminAnswer> {
  if (!values.token) throw new CliError("the admin API needs a token: --token or EDGEGATE_ADMIN_TOKEN", EXIT.usage);
  const url = `${values.url.replace(/\/+$/, "")}/__gateway/admin${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${values.token}`,
        ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
        ...init.headers,
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  } catch (error) {
    throw new CliError(`cannot reach ${values.url}: ${error instanceof Error ? error.message : String(error)}`, EXIT.gateway);
  }
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new CliError(`${url} answered ${response.status} with something that is not JSON`, EXIT.gateway);
  }
  if (response.status === 401) throw new CliError(`${values.url} refused the admin token (401)`, EXIT.gateway);
  if (response.status === 404 && body.type === "urn:edgegate:problem:route-not-found") {
    throw new CliError(`${values.url} has no admin API (is ADMIN_TOKEN set on the gateway?)`, EXIT.gateway);
  }
  return { status: response.status, body };
}

/** Exits on problems the commands share: invalid config, conflict, anything else unexpected. */
function expectOk(answer: AdminAnswer, what: string): Record<string, unknown> {
  const { status, body } = answer;
  if (status >= 200 && status < 300) return body;
  if (status === 422 && Array.isArray(body.issues)) {
    printIssues(what, body.issues as ConfigIssue[]);
    throw new CliError("the gateway refused the config; nothing was published", EXIT.invalid);
  }
  if (status === 412) {
    throw new CliError(
      `conflict: the config changed since it was read (now ${String(body.currentVersion ?? "none")}); run diff again and publish over the new version`,
      EXIT.conflict,
    );
  }
  throw new CliError(`${what}: the gateway answered ${status}${body.detail ? `: ${String(body.detail)}` : ""}`, EXIT.gateway);
}

/** The deployed version and document; null when nothing is published yet. */
async function deployed(): Promise<{ version: string; config: unknown } | null> {
  const answer = await admin("GET", "/config");
  if (answer.status === 404) return null;
  const body = expectOk(answer, "GET config");
  return { version: String(body.version), config: body.config };
}

function precondition(current: string | null): Record<string, string> {
  if (values.force) return { "if-match": "*" };
  if (values.expect) return { "if-match": `"${values.expect}"` };
  return current === null ? { "if-none-match": "*" } : { "if-match": `"${current}"` };
}

async function run(): Promise<number> {
  const validation = { allowPrivateUpstreams: values["allow-private-upstreams"] };
  switch (command) {
    case "validate": {
      const document = readDocument(argument);
      const parsed = parseConfig(document, validation);
      if (!parsed.ok) {
        printIssues(argument as string, parsed.issues);
        return EXIT.invalid;
      }
      console.log(`${argument}: valid (${parsed.config.routes.length} routes, ${Object.keys(parsed.config.clusters).length} clusters)`);
      printWarnings(argument as string, exposureWarnings(parsed.config));
      return EXIT.ok;
    }
    case "diff": {
      const document = readDocument(argument);
      const current = await deployed();
      const changes = diffConfigs(current?.config ?? null, document);
      printChanges(changes, current?.version ?? null);
      return values["exit-code"] && changes.length > 0 ? EXIT.invalid : EXIT.ok;
    }
    case "publish": {
      const document = readDocument(argument);
      if (values.local || values.remote) {
        const result = await publishConfig(directKv(), document, validation);
        if (!result.ok) {
          printIssues(argument as string, result.issues);
          return EXIT.invalid;
        }
        const local = parseConfig(document, validation);
        if (local.ok) printWarnings(argument as string, exposureWarnings(local.config));
        console.log(`published ${argument} as version ${result.version} (${values.local ? "local" : "remote"} KV, directly)`);
        return EXIT.ok;
      }
      // The gateway validates too; checking here first says what is wrong without a round trip.
      // Addresses are left to the gateway, whose deployment decides whether private ones are allowed.
      const parsed = parseConfig(document, { allowPrivateUpstreams: true });
      if (!parsed.ok) {
        printIssues(argument as string, parsed.issues);
        return EXIT.invalid;
      }
      const current = await deployed();
      const changes = diffConfigs(current?.config ?? null, document);
      printChanges(changes, current?.version ?? null);
      if (changes.length === 0 && !values.force) {
        console.log("nothing to publish");
        return EXIT.ok;
      }
      const body = expectOk(
        await admin("PUT", "/config", { body: document, headers: precondition(current?.version ?? null) }),
        argument as string,
      );
      printWarnings(argument as string, Array.isArray(body.warnings) ? (body.warnings as ConfigIssue[]) : []);
      console.log(`published version ${String(body.version)} (was ${String(body.previous ?? "none")})`);
      return EXIT.ok;
    }
    case "get": {
      const current = await deployed();
      if (current === null) throw new CliError("no config has been published yet", EXIT.gateway);
      console.log(JSON.stringify(current.config, null, 2));
      return EXIT.ok;
    }
    case "versions": {
      const body = expectOk(await admin("GET", "/config/versions"), "versions");
      const versions = (body.versions ?? []) as Array<Record<string, unknown>>;
      console.log(`current: ${String(body.current ?? "none")}`);
      for (const entry of versions) {
        const mark = entry.version === body.current ? "*" : " ";
        const detail = entry.detail ? ` (${String(entry.detail)})` : "";
        console.log(
          `${mark} ${String(entry.version)}  ${String(entry.publishedAt)}  ${String(entry.action)}${detail}  ${String(entry.routes)} routes`,
        );
      }
      return EXIT.ok;
    }
    case "rollback": {
      if (!argument) throw new CliError("usage: edgegate rollback <version>", EXIT.usage);
      const current = await deployed();
      const body = expectOk(
        await admin("POST", "/config/rollback", { body: { version: argument }, headers: precondition(current?.version ?? null) }),
        `rollback to ${argument}`,
      );
      console.log(`rolled back to ${String(body.version)} (was ${String(body.previous ?? "none")})`);
      return EXIT.ok;
    }
    case "api-key": {
      const action = positionals[1];
      if (action === "create") {
        if (!values.consumer) throw new CliError("api-key create needs --consumer NAME", EXIT.usage);
        const expiresAt = values["expires-at"];
        if (expiresAt !== undefined && Number.isNaN(Date.parse(expiresAt)))
          throw new CliError("--expires-at must be an ISO time", EXIT.usage);
        const scopes = (values.scopes ?? "")
          .split(",")
          .map((scope) => scope.trim())
          .filter(Boolean);
        const { key, record } = await createApiKey(directKv(), {
          consumer: values.consumer,
          scopes,
          ...(values["rate-limit-key"] ? { rateLimitKey: values["rate-limit-key"] } : {}),
          ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
        });
        console.error(`created a key for consumer '${record.consumer}' (sha256 ${record.hash}); it is shown once:`);
        console.log(key);
        return EXIT.ok;
      }
      if (action === "revoke" && positionals[2]) {
        const hash = await revokeApiKey(directKv(), positionals[2]);
        console.log(`revoked key sha256 ${hash}; isolates stop accepting it within the routes' apiKey.cacheTtlSec`);
        return EXIT.ok;
      }
      throw new CliError(
        "usage: edgegate api-key create --consumer NAME [--scopes a,b] --local|--remote | api-key revoke <key> --local|--remote",
        EXIT.usage,
      );
    }
    default:
      throw new CliError(
        "usage: edgegate validate|diff|publish|get|versions|rollback|api-key ... (see the header of scripts/edgegate.ts)",
        EXIT.usage,
      );
  }
}

try {
  process.exitCode = await run();
} catch (error) {
  if (error instanceof CliError) {
    console.error(error.message);
    process.exitCode = error.exitCode;
  } else {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = EXIT.gateway;
  }
}
