/**
 * An example user policy (outbound): removes the configured fields, at any depth, from JSON
 * response bodies, keeping the status and headers (Content-Length is the new body's). List it on
 * the routes whose upstream says more than clients may see:
 *
 *   "policies": { "no-internals": { "use": "custom", "module": "redact-fields", "options": { "fields": ["internalId", "cost"] } } },
 *   "routes": [{ ..., "policies": { "outbound": ["no-internals"] } }]
 *
 * Options: `fields`, the member names to remove (required); `maxBytes`, the largest body it reads
 * (default 1 MiB). Responses that are not JSON, or have no body, pass as they are. A JSON body it
 * cannot redact (larger than maxBytes, not valid JSON, or a 206 part of one) is never sent as it
 * is: the policy fails, and the client gets the gateway's 500 policy-failed problem.
 */
import type { OutboundPolicy } from "../src/lib/policies/contract.ts";

interface RedactOptions {
  fields: ReadonlySet<string>;
  maxBytes: number;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;

function redactOptions(options: unknown): RedactOptions {
  const { fields, maxBytes = DEFAULT_MAX_BYTES } = (options ?? {}) as Record<string, unknown>;
  if (!Array.isArray(fields) || fields.length === 0 || !fields.every((field) => typeof field === "string")) {
    throw new TypeError("options.fields must be a non-empty array of field names");
  }
  if (typeof maxBytes !== "number" || !Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new TypeError("options.maxBytes must be a positive integer");
  }
  return { fields: new Set(fields), maxBytes };
}

/** application/json and every +json type (RFC 6839), such as application/problem+json. */
function isJson(contentType: string | null): boolean {
  const type = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || type.endsWith("+json");
}

/** The body as text, refused past `maxBytes` whether or not the upstream declared its length. */
async function boundedText(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) throw new Error(`the JSON body is larger than maxBytes (${maxBytes})`);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

/** `value` without the members named in `fields`, in objects at any depth (arrays included). */
function redacted(value: unknown, fields: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => redacted(item, fields));
  if (value === null || typeof value !== "object") return value;
  // fromEntries defines each member as it is, "__proto__" included, where an assignment would not.
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !fields.has(key))
      .map(([key, member]) => [key, redacted(member, fields)]),
  );
}

/**
 * The headers of the redacted answer: the upstream's, but for what described the old bytes. Their
 * length is the new body's, a digest of them is dropped, and a strong ETag becomes weak (RFC 9110
 * section 8.8.1: the same content, not the same bytes). A body the runtime encodes on the way out
 * (the upstream's Content-Encoding, kept) is framed by the runtime, so it gets no length here.
 */
function redactedHeaders(upstream: Headers, body: Uint8Array | null): Headers {
  const headers = new Headers(upstream);
  for (const name of ["content-length", "content-md5", "digest", "content-digest", "repr-digest"]) headers.delete(name);
  if (body !== null && !headers.has("content-encoding")) headers.set("content-length", String(body.byteLength));
  const etag = headers.get("etag");
  if (etag?.startsWith('"')) headers.set("etag", `W/${etag}`);
  return headers;
}

export const outbound: OutboundPolicy = async (response, context) => {
  const { fields, maxBytes } = redactOptions(context.policy.options);
  if (response.body === null || !isJson(response.headers.get("content-type"))) return;
  // A part of a JSON document cannot be parsed, so it cannot be redacted: it is not sent either.
  if (response.status === 206) throw new Error("a partial (206) JSON response cannot be redacted");
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) throw new Error(`the JSON body is larger than maxBytes (${maxBytes})`);
  const text = await boundedText(response.body, maxBytes);
  // An empty body has nothing to redact (and is no JSON to parse): it stays empty.
  const body = text === "" ? null : new TextEncoder().encode(JSON.stringify(redacted(JSON.parse(text), fields)));
  return new Response(body, { status: response.status, statusText: response.statusText, headers: redactedHeaders(response.headers, body) });
};
