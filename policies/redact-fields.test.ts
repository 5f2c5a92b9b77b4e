/**
 * The redact-fields example, called as a plain function with the context the gateway would hand
 * it (policies/_testing.ts). Through the Worker: test/integration/policies.custom.test.ts.
 */
import { describe, expect, it } from "vitest";
import { testOutboundContext } from "./_testing.ts";
import { outbound } from "./redact-fields.ts";

const context = testOutboundContext({ fields: ["secret", "internalId"] });

function json(body: string, init: ResponseInit = {}): Response {
  return new Response(body, { ...init, headers: { "content-type": "application/json", ...init.headers } });
}

describe("redact-fields", () => {
  it("removes the fields at any depth, in arrays too, and keeps status, headers and the rest", async () => {
    const upstream = json(
      JSON.stringify({ id: 1, secret: "s", items: [{ internalId: 9, name: "a" }], nested: { deep: { secret: 1, kept: true } } }),
      { status: 201, headers: { "x-upstream": "1", "content-length": "999", etag: '"abc"' } },
    );
    const replaced = (await outbound(upstream, context)) as Response;
    expect(replaced.status).toBe(201);
    expect(replaced.headers.get("x-upstream")).toBe("1");
    expect(replaced.headers.get("etag")).toBe('W/"abc"');
    const text = await replaced.text();
    expect(replaced.headers.get("content-length")).toBe(String(new TextEncoder().encode(text).byteLength));
    expect(JSON.parse(text)).toEqual({ id: 1, items: [{ name: "a" }], nested: { deep: { kept: true } } });
  });

  it("keeps a member named __proto__ as data, and removes it when configured", async () => {
    const body = '{"__proto__":{"secret":1,"x":2},"a":1}';
    const kept = JSON.parse(await ((await outbound(json(body), context)) as Response).text());
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(kept, "__proto__")?.value).toEqual({ x: 2 });
    const removed = await ((await outbound(json(body), testOutboundContext({ fields: ["__proto__"] }))) as Response).json();
    expect(removed).toEqual({ a: 1 });
  });

  it("redacts +json types, and lets other types and empty answers through untouched", async () => {
    const problem = new Response('{"detail":"x","secret":1}', { headers: { "content-type": "application/problem+json; charset=utf-8" } });
    expect(await ((await outbound(problem, context)) as Response).json()).toEqual({ detail: "x" });
    const html = new Response("<p>secret</p>", { headers: { "content-type": "text/html" } });
    expect(await outbound(html, context)).toBeUndefined();
    expect(await html.text()).toBe("<p>secret</p>");
    const empty = (await outbound(json(""), context)) as Response;
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe("");
    expect(await outbound(new Response(null, { status: 204, headers: { "content-type": "application/json" } }), context)).toBeUndefined();
  });

  it("never passes on what it cannot redact: a body too large, not JSON, or partial is an error", async () => {
    const small = testOutboundContext({ fields: ["secret"], maxBytes: 8 });
    await expect(outbound(json('{"secret":"0123456789"}'), small)).rejects.toThrow("larger than maxBytes (8)");
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"secret":'));
        controller.enqueue(new TextEncoder().encode('"0123456789"}'));
        controller.close();
      },
    });
    await expect(outbound(new Response(stream, { headers: { "content-type": "application/json" } }), small)).rejects.toThrow(
      "larger than maxBytes (8)",
    );
    await expect(outbound(json("{not json"), context)).rejects.toThrow(SyntaxError);
    await expect(outbound(json('{"a":', { status: 206 }), context)).rejects.toThrow("a partial (206) JSON response cannot be redacted");
  });

  it("refuses options without fields", async () => {
    await expect(outbound(json("{}"), testOutboundContext({}))).rejects.toThrow("options.fields must be a non-empty array of field names");
    await expect(outbound(json("{}"), testOutboundContext({ fields: [1] }))).rejects.toThrow(TypeError);
  });
});
