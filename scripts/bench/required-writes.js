// A lower bound for any Worker that keeps edgegate's proxy contract: only the runtime calls that
// contract cannot do without. The request's fields copied natively and the gateway's own written
// (X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, traceparent: what the gateway sends when the
// platform gives no client address, less Forwarded), a header deadline, and the answer re-wrapped
// to return the request id. It does less than the contract asks (no hop-by-hop scan, no client
// fields dropped, nothing matched), so no conforming Worker, with or without a framework, costs less.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const id = crypto.randomUUID();
    const headers = new Headers(request.headers);
    headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
    headers.set("x-forwarded-host", url.host);
    headers.set("x-request-id", id);
    headers.set("traceparent", `00-${id.replaceAll("-", "")}-${id.slice(0, 8)}${id.slice(24, 32)}-01`);
    const upstream = await fetch(env.ORIGIN + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(30_000),
    });
    const response = new Response(upstream.body, upstream);
    response.headers.set("x-request-id", id);
    return response;
  },
};
