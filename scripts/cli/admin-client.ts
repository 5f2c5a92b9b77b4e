/**
 * The gateway's admin API as the CLI uses it: one call per method, the answers the commands share
 * (invalid config, conflict, a gateway without an admin API) turned into CliErrors with their
 * exit codes. docs/operations.md describes the API.
 */
import type { ConfigIssue } from "../../src/lib/config/fields.ts";
import { CliError, EXIT, oneLine } from "./errors.ts";
import { type Output, printIssues } from "./output.ts";

export interface AdminAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface AdminClient {
  /** One call; answers are returned whatever their status, transport failures thrown. */
  call(method: string, path: string, init?: { body?: unknown; headers?: Record<string, string> }): Promise<AdminAnswer>;
  /** The deployed version and document; null when nothing is published yet. */
  deployed(): Promise<{ version: string; config: unknown } | null>;
  /** The body of a 2xx answer; exits on an invalid config (1), a conflict (4) or anything else (3). */
  expectOk(answer: AdminAnswer, what: string): Record<string, unknown>;
}

export function adminClient(gateway: string, token: string, output: Output): AdminClient {
  const base = gateway.replace(/\/+$/, "");
  const client: AdminClient = {
    async call(method, path, init = {}) {
      const url = `${base}/__gateway/admin${path}`;
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
            ...init.headers,
          },
          ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
        });
        text = await response.text();
      } catch (error) {
        // fetch's own message is "fetch failed"; the reason is in its cause.
        const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
        throw new CliError(
          oneLine(`cannot reach ${gateway}: ${error instanceof Error ? error.message : String(error)}${cause}`),
          EXIT.gateway,
        );
      }
      let body: Record<string, unknown> = {};
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        throw new CliError(`${url} answered ${response.status} with something that is not JSON`, EXIT.gateway);
      }
      if (response.status === 401) throw new CliError(`${gateway} refused the admin token (401)`, EXIT.gateway);
      if (response.status === 404 && body.type === "urn:edgegate:problem:route-not-found") {
        throw new CliError(`${gateway} has no admin API (is ADMIN_TOKEN set on the gateway?)`, EXIT.gateway);
      }
      return { status: response.status, body };
    },

    async deployed() {
      const answer = await client.call("GET", "/config");
      if (answer.status === 404) return null;
      const body = client.expectOk(answer, "GET config");
      return { version: String(body.version), config: body.config };
    },

    expectOk({ status, body }, what) {
      if (status >= 200 && status < 300) return body;
      if (status === 422 && Array.isArray(body.issues)) {
        printIssues(output, what, body.issues as ConfigIssue[]);
        throw new CliError("the gateway refused the config; nothing was published", EXIT.invalid);
      }
      if (status === 412) {
        throw new CliError(
          `conflict: the config changed since it was read (now ${String(body.currentVersion ?? "none")}); run diff again and publish over the new version`,
          EXIT.conflict,
        );
      }
      throw new CliError(oneLine(`${what}: the gateway answered ${status}${body.detail ? `: ${String(body.detail)}` : ""}`), EXIT.gateway);
    },
  };
  return client;
}
