/**
 * A small origin for local development: the example config routes to it. It answers with what it
 * received, so you can see what the gateway forwards.
 */
import { createServer } from "node:http";

const users: Record<string, { id: string; name: string }> = {
  "1": { id: "1", name: "Ada Lovelace" },
  "2": { id: "2", name: "Grace Hopper" },
};

export function startDemoOrigin(port: number, host = "127.0.0.1"): Promise<ReturnType<typeof createServer>> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://demo.local");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body, null, 2));
    };
    const user = /^\/users\/([^/]+)$/.exec(url.pathname);
    if (user) {
      const found = users[user[1] ?? ""];
      return found ? send(200, found) : send(404, { error: "no such user" });
    }
    if (url.pathname === "/users") return send(200, Object.values(users));
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => send(200, { origin: "demo", method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes }));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 8788);
  await startDemoOrigin(port);
  console.log(`demo origin on http://127.0.0.1:${port}`);
}
