/** Settings several commands read from their options or the environment, checked once. */

import type { ApiKeyKv } from "../../src/services/api-keys/store.ts";
import { wranglerKv } from "../lib/wrangler-kv.ts";
import { type AdminClient, adminClient } from "./admin-client.ts";
import { flag, type ParsedArgs, text } from "./args.ts";
import { CliError, EXIT, oneLine, UsageError } from "./errors.ts";
import { DEFAULT_URL, url as urlOption } from "./options.ts";
import type { Output } from "./output.ts";

/** The admin API client of --url/EDGEGATE_URL and --token/EDGEGATE_ADMIN_TOKEN; a missing token is a usage error. */
export function admin(command: string, args: ParsedArgs, env: Readonly<Record<string, string | undefined>>, output: Output): AdminClient {
  const fromEnv = text(args, "url") === undefined;
  const gateway = text(args, "url") ?? (env.EDGEGATE_URL || DEFAULT_URL);
  const problem = fromEnv ? urlOption.check?.(gateway) : undefined;
  if (problem) throw new UsageError(`EDGEGATE_URL ${problem}`, command);
  const token = text(args, "token") ?? env.EDGEGATE_ADMIN_TOKEN;
  if (!token) throw new UsageError("the admin API needs a token: --token or EDGEGATE_ADMIN_TOKEN", command);
  return adminClient(gateway, token, output);
}

/** Whether a command writes KV directly (--local or --remote) rather than through the admin API. */
export function direct(args: ParsedArgs): boolean {
  return flag(args, "local") || flag(args, "remote");
}

/**
 * KV written directly through wrangler (--local or --remote). A wrangler failure is exit 3, in one
 * line: wrangler's own output, joined.
 */
export function directKv(args: ParsedArgs): ApiKeyKv {
  const kv = wranglerKv({
    where: flag(args, "local") ? "local" : "remote",
    binding: text(args, "binding"),
    persistTo: text(args, "persist-to"),
  });
  const failed = (error: unknown): never => {
    const message = oneLine(error instanceof Error ? error.message : String(error));
    // wrangler that could not be started at all printed nothing.
    const hint = message.endsWith("failed:") ? " no output (is wrangler installed, and on PATH?)" : "";
    throw new CliError(`${message}${hint}`, EXIT.gateway);
  };
  return {
    get: (key) => kv.get(key).catch(failed),
    put: (key, value) => kv.put(key, value).catch(failed),
    delete: (key) => kv.delete(key).catch(failed),
  };
}
