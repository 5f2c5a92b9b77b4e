/**
 * A test-only user policy that breaks the contract in the way its options name, so the Worker
 * tests can show what each breach becomes: `{ "inbound": "<act>", "outbound": "<act>" }`, each
 * optional (unset: it does nothing that way). Bundled only into the Worker under test
 * (test/policies/registry.ts), never into a deployment.
 */
import type { InboundPolicy, OutboundPolicy } from "../../src/lib/policies/contract.ts";

/** What the gateway must never show a client: stands in for a secret in an exception's message. */
export const SECRET_MESSAGE = "tenant directory at 10.0.0.7 refused token sk_live_51H8";

/** Fields the gateway or the platform owns, each set by the policy to a forgery, in every spelling an origin may read. */
export const OWNED_FIELDS: ReadonlyArray<[string, string]> = [
  ["x-request-id", "forged-id"],
  ["x-forwarded-for", "198.51.100.66"],
  ["x_forwarded_for", "198.51.100.66"],
  ["x-forwarded-host", "evil.example"],
  ["x-forwarded-proto", "gopher"],
  ["x-real-ip", "198.51.100.66"],
  ["forwarded", "for=198.51.100.66"],
  ["traceparent", "00-00000000000000000000000000000001-0000000000000001-01"],
  ["x-edgegate-mirror", "1"],
  ["cf-connecting-ip", "198.51.100.66"],
  ["cf_ipcountry", "XX"],
  ["true-client-ip", "198.51.100.66"],
  ["connection", "close"],
  ["x-user-id", "admin"],
];

interface Acts {
  inbound?: string;
  outbound?: string;
}

function acts(options: unknown): Acts {
  return (options ?? {}) as Acts;
}

export const inbound: InboundPolicy = (request, context) => {
  switch (acts(context.policy.options).inbound) {
    case "throw":
      throw new Error(SECRET_MESSAGE);
    case "throw-string":
      throw SECRET_MESSAGE;
    case "return-number":
      return 42 as unknown as undefined;
    case "hang":
      return new Promise<undefined>(() => {});
    case "change-url":
      return new Request(`${request.url}${request.url.includes("?") ? "&" : "?"}admin=1`, request);
    case "answer":
      return Response.json({ answeredBy: context.policy.name }, { status: 418 });
    case "set-owned":
      for (const [name, value] of OWNED_FIELDS) request.headers.set(name, value);
      request.headers.set("x-policy-mark", "kept");
      return;
    case "remove-owned":
      for (const [name] of OWNED_FIELDS) request.headers.delete(name);
      return;
    default:
      return;
  }
};

export const outbound: OutboundPolicy = async (response, context) => {
  switch (acts(context.policy.options).outbound) {
    case "throw":
      throw new Error(SECRET_MESSAGE);
    case "read-and-return-nothing":
      await response.text();
      return;
    case "mark":
      response.headers.set("x-policy-mark", context.policy.name);
      response.headers.set("x-request-id", "forged-id");
      return;
    default:
      return;
  }
};
