// The floor for any Worker that must rewrite headers, as a gateway must: the request's fields copied
// and edited (hop-by-hop dropped, forwarding fields and a request id set), a header deadline, and
// the answer re-wrapped to carry the request id. No routing, no config, no framework.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"]);

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const id = crypto.randomUUID();
    const headers = new Headers(request.headers);
    for (const name of request.headers.keys()) if (HOP_BY_HOP.has(name) || name.startsWith("x-forwarded-")) headers.delete(name);
    headers.set("x-forwarded-for", request.headers.get("cf-connecting-ip") ?? "unknown");
    headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
    headers.set("x-forwarded-host", url.host);
    headers.set("x-request-id", id);
    const upstream = await fetch(env.ORIGIN + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(30_000),
    });
    const response = new Response(upstream.body, upstream);
    for (const name of upstream.headers.keys()) if (HOP_BY_HOP.has(name)) response.headers.delete(name);
    response.headers.set("x-request-id", id);
    return response;
  },
};
