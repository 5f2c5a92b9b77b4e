/**
 * A stand-in for an mTLS certificate binding, for the Worker tests. On Cloudflare the binding is a
 * Fetcher whose fetch presents a client certificate in the TLS handshake; locally there is no such
 * binding (mTLS bindings exist only on Cloudflare, or as remote bindings), so vitest.config.ts binds
 * this handler under the binding's name as a service binding: a Fetcher too, which the Worker cannot
 * tell from the real one. It proves which attempts went through the binding, not that a certificate
 * was presented.
 *
 * Each request it carries is counted by its `key` query parameter, stamped with
 * `x-mtls-double: <binding name>`, and sent on to its own URL (a local origin) as a transparent
 * proxy: the answer streams back as it comes, an upstream that fails the connection fails the
 * binding's fetch too, and a caller that gives up cancels the upstream request. Tests read the
 * counts through the binding itself: `GET http://mtls-double.test/__double/calls?key=K` answers
 * `{ calls }`.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";

/** The host of the double's own control requests; anything else is forwarded. */
export const MTLS_DOUBLE_HOST = "mtls-double.test";

/** A Node service binding handler (miniflare's `{ node }` designator) standing in for the mTLS certificate binding `binding`. */
export function mtlsDouble(binding: string): { node: (req: IncomingMessage, res: ServerResponse) => void } {
  const calls = new Map<string, number>();
  return {
    node: function mtlsCertificateDouble(req, res) {
      const url = new URL(req.url ?? "/", `http://${req.headers.host ?? MTLS_DOUBLE_HOST}`);
      const key = url.searchParams.get("key") ?? "";
      if (url.hostname === MTLS_DOUBLE_HOST) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ calls: calls.get(key) ?? 0 }));
        return;
      }
      calls.set(key, (calls.get(key) ?? 0) + 1);
      const headers: OutgoingHttpHeaders = { "x-mtls-double": binding };
      // The runtime's own headers on the way to this handler (mf-*) are not the Worker's request.
      for (const [name, value] of Object.entries(req.headers)) if (!name.startsWith("mf-") && value !== undefined) headers[name] = value;
      const upstream = httpRequest(url, { method: req.method, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      });
      // A failed connection upstream fails the binding's fetch, as it would on Cloudflare.
      upstream.on("error", () => res.socket?.destroy());
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    },
  };
}
