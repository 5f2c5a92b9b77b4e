/**
 * A real identity-provider stand-in for integration tests, run in Node by the global setup. It
 * serves named JWKS documents at `/sets/<name>` that tests replace at will (key rotation), and can
 * play an outage (`down`), garbage, a slow or a hanging endpoint. It counts every fetch, and
 * anything under `/attacker/` counts as a hit on an attacker's server (for jku/x5u tests).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type JwksMode = "ok" | "down" | "garbage" | "slow" | "hang";

interface KeySet {
  document: unknown;
  mode: JwksMode;
  delayMs: number;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return JSON.parse(text);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export async function startJwksServer(): Promise<{ server: Server; port: number }> {
  const sets = new Map<string, KeySet>();
  const hits = new Map<string, number>();
  const bump = (name: string) => hits.set(name, (hits.get(name) ?? 0) + 1);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://jwks.test");
    const path = url.pathname;
    const control = /^\/__control\/sets\/([\w.-]+)$/.exec(path);
    if (control && req.method === "PUT") {
      void readJson(req).then((body) => {
        const { document, mode = "ok", delayMs = 0 } = body as Partial<KeySet>;
        const current = sets.get(control[1] as string);
        sets.set(control[1] as string, { document: document ?? current?.document ?? { keys: [] }, mode, delayMs });
        json(res, 200, { ok: true });
      });
      return;
    }
    if (path === "/__control/hits") return json(res, 200, { hits: hits.get(url.searchParams.get("name") ?? "") ?? 0 });
    if (path.startsWith("/attacker/")) {
      bump("attacker");
      return json(res, 200, { keys: [] });
    }
    const serve = /^\/sets\/([\w.-]+)$/.exec(path);
    const set = serve ? sets.get(serve[1] as string) : undefined;
    if (!serve || !set) return json(res, 404, { error: "no such key set" });
    bump(serve[1] as string);
    switch (set.mode) {
      case "down":
        return json(res, 503, { error: "identity provider down" });
      case "garbage":
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html><body>maintenance</body></html>");
        return;
      case "hang":
        return; // never answers; the server closes it at teardown
      case "slow":
        setTimeout(() => json(res, 200, set.document), set.delayMs);
        return;
      default:
        return json(res, 200, set.document);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}
