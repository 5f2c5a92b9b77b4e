/**
 * The Workers Cache API for Workers on plain workerd, as the benchmarks run them. workerd sends a
 * Worker's `caches.default` calls to the service its `cacheApiOutbound` names, over HTTP: GET to
 * look up (a miss is 504 with `cf-cache-status: MISS`), PUT to store (the response serialized as
 * an HTTP/1.1 message in the body), PURGE to delete. This answers them from a Map in this process,
 * outside the workerd process being measured, as Cloudflare's cache is outside the isolate's.
 * Entries do not expire here: the gateway judges freshness by its own record of each copy, and a
 * benchmark run is shorter than the lifetimes it configures.
 */
import { createServer, type Server } from "node:http";

interface Stored {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
}

/** Splits a serialized HTTP/1.1 response into its status, fields and body. */
function parseResponse(message: Buffer): Stored | null {
  const end = message.indexOf("\r\n\r\n");
  if (end === -1) return null;
  const [statusLine, ...lines] = message.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine ?? "")?.[1]);
  if (!Number.isInteger(status)) return null;
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  return { status, headers, body: message.subarray(end + 4) };
}

/** An HTTP server speaking workerd's cache protocol over one in-memory store. */
export function cacheServer(): Server {
  const store = new Map<string, Stored>();
  return createServer(async (req, res) => {
    const key = `${req.headers.host ?? ""}${req.url ?? "/"}`;
    if (req.method === "GET") {
      const hit = store.get(key);
      if (hit === undefined) return void res.writeHead(504, { "cf-cache-status": "MISS" }).end();
      res.writeHead(hit.status, [...hit.headers.flat(), "cf-cache-status", "HIT"]);
      return void res.end(hit.body);
    }
    if (req.method === "PUT") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const stored = parseResponse(Buffer.concat(chunks));
      if (stored === null) return void res.writeHead(400).end();
      store.set(key, stored);
      return void res.writeHead(204).end();
    }
    if (req.method === "PURGE") return void res.writeHead(store.delete(key) ? 200 : 404).end();
    res.writeHead(405).end();
  });
}
