/** The commands on API keys, written to KV directly through wrangler: api-key create, api-key revoke. */
import { createApiKey, revokeApiKey } from "../../src/services/api-keys/store.ts";
import { flag, type ParsedArgs, text } from "./args.ts";
import type { CommandSpec } from "./command.ts";
import { EXIT } from "./errors.ts";
import * as option from "./options.ts";
import { directKv } from "./settings.ts";

const KV_OPTIONS = [option.local, option.remote, option.persistTo, option.binding];

/** Exactly one of --local and --remote; --persist-to only with --local. */
function whereTo(args: ParsedArgs): string | undefined {
  if (flag(args, "local") === flag(args, "remote")) return "needs exactly one of --local or --remote";
  if (args.options.has("persist-to") && !flag(args, "local")) return "--persist-to goes with --local";
  return undefined;
}

const KV_CODES = [
  [0, "done"],
  [2, "usage error"],
  [3, "wrangler failed (not installed, not logged in for --remote, or no such binding)"],
] as const;

export const apiKeyCreate: CommandSpec = {
  name: "api-key create",
  summary: "create an API key (KV, through wrangler)",
  usage: "api-key create --consumer NAME --local|--remote [options]",
  arguments: [],
  options: [option.consumer, option.scopes, option.rateLimitKey, option.expiresAt, ...KV_OPTIONS],
  details: [
    "Stores the SHA-256 of a new key under api-keys/sha256/<hex> in the CONFIG namespace and prints the key once, on stdout (the rest goes to stderr). Run where wrangler.jsonc is; wrangler must be on PATH.",
  ],
  examples: [
    ["edgegate api-key create --consumer acme --scopes orders:read,orders:write --remote", "a key for acme, in your account's KV"],
    ["edgegate api-key create --consumer dev --local --expires-at 2027-01-01T00:00:00Z", "a local key that expires"],
  ],
  exitCodes: KV_CODES,
  combination(args) {
    if (text(args, "consumer") === undefined) return "api-key create needs --consumer NAME";
    const where = whereTo(args);
    return where && (where.startsWith("needs") ? `api-key create ${where}` : where);
  },
  async run({ args, output }) {
    const expiresAt = text(args, "expires-at");
    const scopes = (text(args, "scopes") ?? "")
      .split(",")
      .map((scope) => scope.trim())
      .filter(Boolean);
    const rateLimitKey = text(args, "rate-limit-key");
    const { key, record } = await createApiKey(directKv(args), {
      consumer: text(args, "consumer") as string,
      scopes,
      ...(rateLimitKey ? { rateLimitKey } : {}),
      ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
    });
    output.err(`created a key for consumer '${record.consumer}' (sha256 ${record.hash}); it is shown once:`);
    output.out(key);
    return EXIT.ok;
  },
};

export const apiKeyRevoke: CommandSpec = {
  name: "api-key revoke",
  summary: "revoke an API key (KV, through wrangler)",
  usage: "api-key revoke <key> --local|--remote [options]",
  arguments: [{ name: "<key>", description: "the key itself, or the sha256 that create printed" }],
  options: KV_OPTIONS,
  details: [
    "Deletes the key's record. Isolates that cached the key stop accepting it within the route's apiKey.cacheTtlSec. Run where wrangler.jsonc is; wrangler must be on PATH.",
  ],
  examples: [["edgegate api-key revoke egk_... --remote", "or the sha256 that create printed"]],
  exitCodes: KV_CODES,
  combination(args) {
    const where = whereTo(args);
    return where && (where.startsWith("needs") ? `api-key revoke ${where}` : where);
  },
  async run({ args, output }) {
    const hash = await revokeApiKey(directKv(args), args.positionals[0] as string);
    output.out(`revoked key sha256 ${hash}; isolates stop accepting it within the routes' apiKey.cacheTtlSec`);
    return EXIT.ok;
  },
};
