/**
 * The KV surface of the config and API-key stores, implemented with the wrangler CLI, so scripts publish configs
 * exactly the way the Worker reads them (same keys, same validation) to local or remote KV.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiKeyKv } from "../../src/services/api-keys/store.ts";

export interface WranglerKvTarget {
  /** Local storage (what `wrangler dev` uses) or the real namespace in your account. */
  where: "local" | "remote";
  binding?: string;
  persistTo?: string;
}

function wrangler(args: string[]): string {
  const result = spawnSync("wrangler", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed:\n${result.stderr || result.stdout}`);
  return result.stdout;
}

export function wranglerKv(target: WranglerKvTarget): ApiKeyKv {
  const common = [
    `--binding=${target.binding ?? "CONFIG"}`,
    `--${target.where}`,
    ...(target.persistTo ? [`--persist-to=${target.persistTo}`] : []),
  ];
  return {
    async get(key) {
      try {
        return wrangler(["kv", "key", "get", key, ...common, "--text"]);
      } catch {
        return null;
      }
    },
    async put(key, value) {
      // Values go through a file: a config can be larger than a command line may be.
      const dir = mkdtempSync(join(tmpdir(), "edgegate-"));
      try {
        const file = join(dir, "value.json");
        writeFileSync(file, value);
        wrangler(["kv", "key", "put", key, `--path=${file}`, ...common]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async delete(key) {
      wrangler(["kv", "key", "delete", key, ...common]);
    },
  };
}
