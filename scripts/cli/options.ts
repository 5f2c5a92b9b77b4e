/**
 * Every option of the CLI, defined once: a command lists the ones it takes (commands.ts), and
 * an option means the same, with the same value, in every command that takes it.
 */
import type { OptionSpec } from "./args.ts";

/** The gateway the admin API commands talk to when neither --url nor EDGEGATE_URL says. */
export const DEFAULT_URL = "http://localhost:8787";

function httpUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? undefined : `must be an http or https URL, not '${value}'`;
  } catch {
    return `must be an http or https URL, not '${value}'`;
  }
}

export const url: OptionSpec = {
  name: "url",
  value: "URL",
  description: "the gateway whose admin API to use",
  default: `$EDGEGATE_URL, else ${DEFAULT_URL}`,
  check: httpUrl,
};

export const token: OptionSpec = {
  name: "token",
  value: "TOKEN",
  description: "the admin token: the gateway's ADMIN_TOKEN secret",
  default: "$EDGEGATE_ADMIN_TOKEN",
};

export const expect: OptionSpec = {
  name: "expect",
  value: "VERSION",
  description: "write only if VERSION is still the current version",
  default: "the version read just before",
  check: (value) => (/^[A-Za-z0-9._-]{1,128}$/.test(value) ? undefined : `'${value}' is not a config version`),
};

export const force: OptionSpec = { name: "force", description: "write over whatever version is current, unchecked" };

export const local: OptionSpec = {
  name: "local",
  description: "write the local KV that `wrangler dev` and `npm start` use, directly (wrangler)",
};

export const remote: OptionSpec = {
  name: "remote",
  description: "write the real KV namespace of wrangler.jsonc, directly (wrangler, logged in; CLOUDFLARE_ENV names the environment)",
};

export const persistTo: OptionSpec = {
  name: "persist-to",
  value: "DIR",
  description: "with --local: the local state directory, as `wrangler dev --persist-to` was given",
  default: "wrangler's own, .wrangler/state",
};

export const binding: OptionSpec = {
  name: "binding",
  value: "NAME",
  description: "the KV binding in wrangler.jsonc",
  default: "CONFIG",
  check: (value) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? undefined : `'${value}' is not a binding name`),
};

export const allowPrivateUpstreams: OptionSpec = {
  name: "allow-private-upstreams",
  description: "accept loopback, link-local and private upstream addresses, as ALLOW_PRIVATE_UPSTREAMS=true does (development)",
};

export const exitCode: OptionSpec = { name: "exit-code", description: "exit 1 when there are changes (0 when none)" };

export const json: OptionSpec = {
  name: "json",
  description: "print the diff as one JSON document: each change with its fields' values before and after",
};

/** The key record's limit on names (src/services/api-keys/store.ts). */
const atMost128 = (value: string) => (value.length > 128 ? "may be at most 128 characters" : undefined);

export const consumer: OptionSpec = { name: "consumer", value: "NAME", description: "whose key it is (required)", check: atMost128 };

export const scopes: OptionSpec = {
  name: "scopes",
  value: "A,B",
  description: "the scopes the key grants, comma-separated",
  default: "none",
};

export const rateLimitKey: OptionSpec = {
  name: "rate-limit-key",
  value: "KEY",
  description: "the key's rate limits count under KEY (shared by keys that name it)",
  default: "the consumer",
  check: atMost128,
};

export const expiresAt: OptionSpec = {
  name: "expires-at",
  value: "TIME",
  description: "when the key stops working, an ISO 8601 time",
  default: "never",
  check: (value) => (Number.isNaN(Date.parse(value)) ? `'${value}' is not an ISO 8601 time` : undefined),
};

/** `--version`: the whole tool's, given alone. */
export const version: OptionSpec = { name: "version", description: "print edgegate's version" };
