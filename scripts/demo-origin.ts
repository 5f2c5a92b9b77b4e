/**
 * A small origin for local development: the example config routes to it. It answers with what it
 * received, so you can see what the gateway forwards. It also plays a development identity
 * provider: a JWKS at /.well-known/jwks.json and /demo/token minting ES256 tokens for it
 * (never expose this anywhere but your own machine). Given a shared secret, it answers /users/:id
 * only to requests that carry it in X-Origin-Secret, as an origin behind the gateway would (the
 * example config's set-headers policy sends it), and never echoes it back.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { acceptWebSocket } from "./lib/websocket-server.ts";

export const DEMO_ISSUER = "http://127.0.0.1:8788/";
export const DEMO_AUDIENCE = "edgegate-demo";

const users: Record<string, { id: string; name: string }> = {
  "1": { id: "1", name: "Ada Lovelace" },
  "2": { id: "2", name: "Grace Hopper" },
};

/** The field the example config's `origin-secret` policy (set-headers) sends the shared secret in. */
export const ORIGIN_SECRET_HEADER = "x-origin-secret";

/** Whether `presented` is `secret`, compared in constant time. */
function sameSecret(presented: string | string[] | undefined, secret: string): boolean {
  if (typeof presented !== "string") return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startDemoOrigin(
  port: number,
  host = "127.0.0.1",
  options: { sharedSecret?: string } = {},
): Promise<ReturnType<typeof createServer>> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const kid = `demo-${Date.now()}`;
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://demo.local");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body, null, 2));
    };
    const user = /^\/users\/([^/]+)$/.exec(url.pathname);
    if (user && options.sharedSecret !== undefined && !sameSecret(req.headers[ORIGIN_SECRET_HEADER], options.sharedSecret)) {
      return send(403, { error: `only the gateway may call this: ${ORIGIN_SECRET_HEADER} is missing or wrong` });
    }
    if (user) {
      const found = users[user[1] ?? ""];
      return found ? send(200, found) : send(404, { error: "no such user" });
    }
    // A slow list query, so that concurrent calls overlap and the gateway's coalescing shows.
    if (url.pathname === "/users") return void setTimeout(() => send(200, Object.values(users)), 150);
    if (url.pathname === "/.well-known/jwks.json") return send(200, jwks);
    if (url.pathname === "/demo/token") {
      const token = await new SignJWT({ scope: url.searchParams.get("scope") ?? "orders:read" })
        .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
        .setIssuer(DEMO_ISSUER)
        .setAudience(DEMO_AUDIENCE)
        .setSubject(url.searchParams.get("sub") ?? "alice")
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(privateKey);
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(`${token}\n`);
    }
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    // The shared secret is the origin's to check, never to show.
    const headers = { ...req.headers };
    if (headers[ORIGIN_SECRET_HEADER] !== undefined) headers[ORIGIN_SECRET_HEADER] = "(redacted)";
    req.on("end", () => send(200, { origin: "demo", method: req.method, url: req.url, headers, bodyBytes: bytes }));
  });
  // A WebSocket echo at /ws/echo (the example config's `ws-echo` route): every message comes back.
  server.on("upgrade", (req, socket, head) => {
    if (new URL(req.url ?? "/", "http://demo.local").pathname !== "/ws/echo") {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      return;
    }
    const ws = acceptWebSocket(req, socket, head);
    ws?.on("message", (data) => ws.send(data));
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
