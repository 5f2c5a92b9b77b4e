/** The commands on a gateway's config: validate, diff, publish, get, versions, rollback. */
import { diffConfigs } from "../../src/config/diff.ts";
import { exposureWarnings } from "../../src/config/exposure.ts";
import { parseConfig } from "../../src/config/schema.ts";
import { publishConfig } from "../../src/config/store.ts";
import type { ConfigIssue } from "../../src/lib/config/fields.ts";
import { type ArgumentSpec, flag, type ParsedArgs, text } from "./args.ts";
import { checkoutPolicyIssues } from "./checkout-policies.ts";
import type { CommandSpec } from "./command.ts";
import { diffJson, printDiff } from "./diff-output.ts";
import { CliError, EXIT } from "./errors.ts";
import { readConfigDocument } from "./input.ts";
import * as option from "./options.ts";
import { printIssues, printWarnings } from "./output.ts";
import { admin, direct, directKv } from "./settings.ts";

const file: ArgumentSpec = {
  name: "<file>",
  description: "the config: a JSON or YAML file (.json, .yaml, .yml; otherwise by content), or - for standard input",
};

const READING =
  "<file> is read as JSON or YAML by its extension; standard input (-) and other names by content (JSON starts with { or [). YAML must describe a JSON document: YAML 1.2 core schema, no duplicate keys.";

const USAGE_CODE = [2, "usage error, or <file> cannot be read (its line and column are named)"] as const;
const GATEWAY_CODE = [3, "the gateway could not be reached, refused the token, has no admin API, or failed"] as const;

/** The precondition of a write: --force, --expect, or the version just read (none: nothing published yet). */
function precondition(args: ParsedArgs, current: string | null): Record<string, string> {
  if (flag(args, "force")) return { "if-match": "*" };
  const expected = text(args, "expect");
  if (expected) return { "if-match": `"${expected}"` };
  return current === null ? { "if-none-match": "*" } : { "if-match": `"${current}"` };
}

function expectOrForce(args: ParsedArgs): string | undefined {
  return flag(args, "force") && text(args, "expect") !== undefined ? "--expect and --force exclude each other" : undefined;
}

export const validate: CommandSpec = {
  name: "validate",
  summary: "check a config offline, with the gateway's own rules",
  arguments: [file],
  options: [option.allowPrivateUpstreams],
  details: [
    "Runs the schema and every check the gateway applies when it loads a config, without a gateway. Every problem is printed with its field path; warnings (an open route that reaches what a protected one guards) are printed too, and do not fail the config.",
    "Run in a checkout of the gateway (a wrangler config and a policies/ directory here), it also checks that each custom policy's module is a file of policies/. Elsewhere the gateway checks that when the config is published to it, as it checks the bindings a config names.",
    READING,
  ],
  examples: [
    ["edgegate validate my-config.json", "the gateway's checks, offline"],
    ["edgegate validate my-config.yaml", "YAML is read as the JSON it describes"],
    ["generate-config | edgegate validate -", "from standard input"],
    ["edgegate validate examples/config.json --allow-private-upstreams", "a development config with loopback upstreams"],
  ],
  exitCodes: [[0, "valid (warnings, if any, on stderr)"], [1, "invalid: every problem on stderr with its field path"], USAGE_CODE],
  async run({ args, output, readStdin }) {
    const { name, document } = await readConfigDocument(args.positionals[0] as string, readStdin);
    const parsed = parseConfig(document, { allowPrivateUpstreams: flag(args, "allow-private-upstreams") });
    const issues = parsed.ok ? checkoutPolicyIssues(parsed.config) : parsed.issues;
    if (!parsed.ok || issues.length > 0) {
      printIssues(output, name, issues);
      return EXIT.invalid;
    }
    output.out(`${name}: valid (${parsed.config.routes.length} routes, ${Object.keys(parsed.config.clusters).length} clusters)`);
    printWarnings(output, name, exposureWarnings(parsed.config));
    return EXIT.ok;
  },
};

export const diff: CommandSpec = {
  name: "diff",
  summary: "what publishing a config would change, field by field",
  arguments: [file],
  options: [option.url, option.token, option.exitCode, option.json],
  details: [
    "Reads the deployed config through the admin API and compares: routes by id (and their order, which decides matching), clusters and JWT providers by name, and the other top-level fields. Each changed field is printed with its value before and after (`~ routes[users].timeoutMs: 15000 -> 2000`; `(none)` where a field is missing), entries added (+) and removed (-) by name, and each route moved with its index before and after. Long values are cut; --json prints them whole.",
    'With --json, stdout is one JSON document: {"against": VERSION or null, "changes": [{"kind": "added"|"removed"|"changed"|"moved", "entry", "fields", "values": [{"field", "before", "after"}]}]}. "values" has one item per path in "fields" (a side where the field is missing has no "before" or "after"), or, when "fields" is empty, one item with field "" for the whole entry (for "routes (order)": the ids of the routes on both sides, in their order before and after).',
    READING,
  ],
  examples: [
    ["edgegate diff my-config.json", "what would change, field by field"],
    ["edgegate diff my-config.yaml --exit-code", "exit 1 if publishing would change anything"],
    ["edgegate diff - --json < my-config.json | jq '.changes[].entry'", "for a script"],
  ],
  exitCodes: [[0, "done (with --exit-code: no changes)"], [1, "with --exit-code: there are changes"], USAGE_CODE, GATEWAY_CODE],
  async run({ args, output, env, readStdin }) {
    const gateway = admin("diff", args, env, output);
    const { document } = await readConfigDocument(args.positionals[0] as string, readStdin);
    const current = await gateway.deployed();
    const changes = diffConfigs(current?.config ?? null, document, { values: true });
    if (flag(args, "json")) output.out(diffJson(changes, current?.version ?? null));
    else printDiff(output, changes, current?.version ?? null, current?.config ?? null, document);
    return flag(args, "exit-code") && changes.length > 0 ? EXIT.invalid : EXIT.ok;
  },
};

export const publish: CommandSpec = {
  name: "publish",
  summary: "validate, diff, and publish a config as a new version",
  arguments: [file],
  options: [
    option.url,
    option.token,
    option.expect,
    option.force,
    option.local,
    option.remote,
    option.persistTo,
    option.binding,
    option.allowPrivateUpstreams,
  ],
  details: [
    "Through the admin API: validates <file>, reads the deployed version, prints the diff, and publishes over that version (If-Match). If someone else published in between, nothing is published and the exit code is 4: run diff again. --expect names the version to publish over; --force publishes over anything. Nothing to change: nothing is published (--force publishes anyway).",
    "With --local or --remote: writes KV directly through wrangler (run where wrangler.jsonc is), with no admin API: --local the local storage of `wrangler dev` and `npm start`, --remote the namespace in your account (of the environment CLOUDFLARE_ENV names: staging or production). The addresses of upstreams are checked as in production unless --allow-private-upstreams; through the admin API, the gateway's own setting decides.",
    READING,
  ],
  examples: [
    ["edgegate publish my-config.json", "diff, then publish over the version just read"],
    ["edgegate publish my-config.yaml --expect 20261201T120000Z-1a2b3c4d", "only over that version"],
    ["edgegate publish examples/config.json --local --allow-private-upstreams", "local development, no admin API"],
  ],
  exitCodes: [
    [0, "published, or nothing to publish (warnings, if any, on stderr)"],
    [1, "the config is invalid: every problem on stderr with its field path; nothing was published"],
    USAGE_CODE,
    [3, "the gateway could not be reached, refused the token, has no admin API, or failed; or wrangler failed"],
    [4, "conflict: the config changed since it was read; nothing was published"],
  ],
  combination(args) {
    if (flag(args, "local") && flag(args, "remote")) return "--local and --remote exclude each other";
    if (direct(args)) {
      const throughApi = ["url", "token", "expect", "force"].find((name) => args.options.has(name));
      if (throughApi) return `--${throughApi} is for publishing through the admin API, not with --local or --remote`;
      if (args.options.has("persist-to") && !flag(args, "local")) return "--persist-to goes with --local";
      return undefined;
    }
    for (const name of ["persist-to", "binding", "allow-private-upstreams"]) {
      if (args.options.has(name)) return `--${name} goes with --local or --remote (through the admin API, the gateway decides)`;
    }
    return expectOrForce(args);
  },
  async run({ args, output, env, readStdin }) {
    if (direct(args)) {
      const { name, document } = await readConfigDocument(args.positionals[0] as string, readStdin);
      const validation = { allowPrivateUpstreams: flag(args, "allow-private-upstreams") };
      // Written straight to KV, the config is checked by no gateway first: the checkout's modules are checked here.
      const checked = parseConfig(document, validation);
      const missing = checked.ok ? checkoutPolicyIssues(checked.config) : [];
      if (missing.length > 0) {
        printIssues(output, name, missing);
        return EXIT.invalid;
      }
      const result = await publishConfig(directKv(args), document, validation);
      if (!result.ok) {
        printIssues(output, name, result.issues);
        return EXIT.invalid;
      }
      if (checked.ok) printWarnings(output, name, exposureWarnings(checked.config));
      output.out(`published ${name} as version ${result.version} (${flag(args, "local") ? "local" : "remote"} KV, directly)`);
      return EXIT.ok;
    }
    const gateway = admin("publish", args, env, output);
    const { name, document } = await readConfigDocument(args.positionals[0] as string, readStdin);
    // The gateway validates too; checking here first says what is wrong without a round trip.
    // Addresses are left to the gateway, whose deployment decides whether private ones are allowed.
    const parsed = parseConfig(document, { allowPrivateUpstreams: true });
    if (!parsed.ok) {
      printIssues(output, name, parsed.issues);
      return EXIT.invalid;
    }
    const current = await gateway.deployed();
    const changes = diffConfigs(current?.config ?? null, document, { values: true });
    printDiff(output, changes, current?.version ?? null, current?.config ?? null, document);
    if (changes.length === 0 && !flag(args, "force")) {
      output.out("nothing to publish");
      return EXIT.ok;
    }
    const body = gateway.expectOk(
      await gateway.call("PUT", "/config", { body: document, headers: precondition(args, current?.version ?? null) }),
      name,
    );
    printWarnings(output, name, Array.isArray(body.warnings) ? (body.warnings as ConfigIssue[]) : []);
    output.out(`published version ${String(body.version)} (was ${String(body.previous ?? "none")})`);
    return EXIT.ok;
  },
};

export const get: CommandSpec = {
  name: "get",
  summary: "print the deployed config as JSON",
  arguments: [],
  options: [option.url, option.token],
  details: ["Prints the current version's document on stdout, as JSON."],
  examples: [["edgegate get > deployed.json", "the current document"]],
  exitCodes: [
    [0, "done"],
    [2, "usage error"],
    [3, "the gateway could not be reached or failed, or nothing is published yet"],
  ],
  async run({ args, output, env }) {
    const current = await admin("get", args, env, output).deployed();
    if (current === null) throw new CliError("no config has been published yet", EXIT.gateway);
    output.out(JSON.stringify(current.config, null, 2));
    return EXIT.ok;
  },
};

export const versions: CommandSpec = {
  name: "versions",
  summary: "list the versions made current, newest first",
  arguments: [],
  options: [option.url, option.token],
  details: ["One line per version made current (by a publish or a rollback), newest first; * marks the current one."],
  examples: [["edgegate versions", "what rollback can go back to"]],
  exitCodes: [[0, "done"], [2, "usage error"], GATEWAY_CODE],
  async run({ args, output, env }) {
    const gateway = admin("versions", args, env, output);
    const body = gateway.expectOk(await gateway.call("GET", "/config/versions"), "versions");
    const list = (body.versions ?? []) as Array<Record<string, unknown>>;
    output.out(`current: ${String(body.current ?? "none")}`);
    for (const entry of list) {
      const mark = entry.version === body.current ? "*" : " ";
      const detail = entry.detail ? ` (${String(entry.detail)})` : "";
      output.out(
        `${mark} ${String(entry.version)}  ${String(entry.publishedAt)}  ${String(entry.action)}${detail}  ${String(entry.routes)} routes`,
      );
    }
    return EXIT.ok;
  },
};

export const rollback: CommandSpec = {
  name: "rollback",
  summary: "make an earlier version current again",
  arguments: [{ name: "<version>", description: "the version to make current (see edgegate versions)" }],
  options: [option.url, option.token, option.expect, option.force],
  details: [
    "Moves the pointer back to <version>, which must pass today's validation, over the version read just before (If-Match), as publish does: if someone else published in between, nothing changes and the exit code is 4.",
  ],
  examples: [["edgegate rollback 20261201T120000Z-1a2b3c4d", "make that version current again"]],
  exitCodes: [
    [0, "done"],
    [1, "that version does not pass today's validation"],
    [2, "usage error"],
    [3, "the gateway could not be reached or failed, or has no such version"],
    [4, "conflict: the config changed since it was read"],
  ],
  combination: expectOrForce,
  async run({ args, output, env }) {
    const gateway = admin("rollback", args, env, output);
    const target = args.positionals[0] as string;
    const current = await gateway.deployed();
    const body = gateway.expectOk(
      await gateway.call("POST", "/config/rollback", { body: { version: target }, headers: precondition(args, current?.version ?? null) }),
      `rollback to ${target}`,
    );
    output.out(`rolled back to ${String(body.version)} (was ${String(body.previous ?? "none")})`);
    return EXIT.ok;
  },
};
