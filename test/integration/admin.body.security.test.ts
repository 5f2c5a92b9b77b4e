/**
 * Every admin endpoint that reads a body refuses an unfit one before anything is written: over
 * 10 MiB counted in bytes (declared, streamed without a length, or multi-byte text under 10 Mi
 * characters), invalid UTF-8, nesting deep enough to overflow a stack later, an empty body, a
 * media type that is not UTF-8 JSON. The config version never changes.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, admin, currentVersion, taggedConfig } from "../admin-support.ts";
import { applyConfig, expectProblem, gateway } from "../support.ts";

const MAX_BYTES = 10 * 1024 * 1024;

/** The endpoints that read a body, with the preconditions they need to get as far as reading it. */
const BODY_ENDPOINTS: Array<[string, string]> = [
  ["PUT", "/config"],
  ["POST", "/config/validate"],
  ["POST", "/config/rollback"],
  ["PUT", "/config/routes/x"],
  ["PUT", "/config/clusters/x"],
];

const PRECONDITION = { "if-match": "*" };

/** A stream of `chunks` chunks of `size` bytes that counts the chunks the gateway pulled. */
function countedStream(chunks: number, size: number) {
  const state = { pulled: 0 };
  const chunk = new Uint8Array(size).fill(0x20); // JSON whitespace
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (state.pulled === chunks) return controller.close();
        state.pulled++;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

function send(method: string, path: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(`/__gateway/admin${path}`, {
    method,
    body,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...PRECONDITION, ...headers },
  });
}

/** A document that would be accepted (a valid config, route or cluster) with `padding` in a free-text place. */
function acceptable(path: string, padding: string): string {
  if (path === "/config/rollback") return JSON.stringify({ version: padding });
  if (path === "/config/routes/x") return JSON.stringify({ match: { path: `/x/${padding}` }, cluster: "origin" });
  const cluster = { targets: [{ url: `https://api.example.com/${padding}` }] };
  if (path === "/config/clusters/x") return JSON.stringify(cluster);
  return JSON.stringify({ ...taggedConfig("body"), clusters: { ...taggedConfig("body").clusters, x: cluster } });
}

function deepArrays(depth: number): string {
  return `${"[".repeat(depth)}${"]".repeat(depth)}`;
}

function deepObjects(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

let before: string | null;

beforeAll(async () => {
  await applyConfig(taggedConfig("body"));
});

beforeEach(async () => {
  before = await currentVersion();
});

describe.each(BODY_ENDPOINTS)("admin %s %s: bodies", (method, path) => {
  it("refuses UTF-8 over 10 MiB in bytes but under it in characters: 413, nothing written", async () => {
    const text = acceptable(path, "\u20ac".repeat(Math.ceil(MAX_BYTES / 3) + 10));
    expect(text.length).toBeLessThan(MAX_BYTES);
    await expectProblem(await send(method, path, text), 413, "payload-too-large");
    await expectProblem(await send(method, path, new Blob([text]).stream()), 413, "payload-too-large");
    expect(await currentVersion()).toBe(before);
  });

  it("stops reading a body without Content-Length at the limit: 413, the rest never pulled", async () => {
    const { stream, state } = countedStream(64, 1024 * 1024);
    await expectProblem(await send(method, path, stream), 413, "payload-too-large");
    expect(state.pulled).toBeLessThanOrEqual(14);
    expect(await currentVersion()).toBe(before);
  });

  it("refuses a declared Content-Length over the limit without reading the body", async () => {
    const { stream, state } = countedStream(11, 1024 * 1024);
    await expectProblem(await send(method, path, stream, { "content-length": String(11 * 1024 * 1024) }), 413, "payload-too-large");
    expect(state.pulled).toBeLessThanOrEqual(2);
    expect(await currentVersion()).toBe(before);
  });

  it("reads a body of exactly the limit, multi-byte characters included", async () => {
    const head = acceptable(path, "caf\u00e9");
    const body = head + " ".repeat(MAX_BYTES - new TextEncoder().encode(head).byteLength);
    const response = await send(method, path, body);
    expect(response.status).not.toBe(413);
    await response.text();
    // One byte more is refused.
    await expectProblem(await send(method, path, `${body} `), 413, "payload-too-large");
  });

  it.each([
    ["0xFF", [0xff]],
    ["a lone continuation byte", [0x80]],
    ["a truncated 3-byte sequence", [0xe2, 0x82]],
    ["an overlong '/'", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
  ])("refuses invalid UTF-8 (%s) with 400, nothing written", async (_, bad) => {
    const [head, tail] = acceptable(path, "MARK").split("MARK") as [string, string];
    const encoder = new TextEncoder();
    const body = new Uint8Array([...encoder.encode(head), ...bad, ...encoder.encode(tail)]);
    const problem = await expectProblem(await send(method, path, body), 400, "bad-request");
    expect(problem.detail).toBe("The body is not valid UTF-8.");
    expect(await currentVersion()).toBe(before);
  });

  it.each([
    ["arrays 100,000 deep", () => deepArrays(100_000)],
    ["objects 100,000 deep", () => deepObjects(100_000)],
    ["arrays and objects 100,000 deep", () => `${'[{"a":'.repeat(50_000)}1${"}]".repeat(50_000)}`],
    ["a deep value inside a config", () => acceptable(path, "x").replace(/^\{/, `{"deep":${deepArrays(100_000)},`)],
    ["an unclosed deep array", () => "[".repeat(100_000)],
    ["65 levels", () => deepArrays(65)],
  ])("refuses %s with 400 before anything is written", async (_, body) => {
    const problem = await expectProblem(await send(method, path, body()), 400, "bad-request");
    expect(problem.detail).toBe("The body nests arrays and objects more than 64 levels deep.");
    expect(await currentVersion()).toBe(before);
  });

  it("passes 64 levels on to validation", async () => {
    const response = await send(method, path, `{"deep":${deepArrays(63)}}`);
    // Refused by the endpoint's own checks (rollback wants a version, a config a schema), not for its depth.
    expect([400, 422]).toContain(response.status);
    expect(await response.text()).not.toContain("levels deep");
    expect(await currentVersion()).toBe(before);
  });

  it.each([
    ["no body", undefined],
    ["an empty body", ""],
    ["only whitespace", " \r\n\t"],
  ])("refuses %s with 400 that says so", async (_, body) => {
    const problem = await expectProblem(
      await admin(method, path, {
        headers: { ...PRECONDITION, "content-type": "application/json" },
        ...(body !== undefined ? { rawBody: body } : {}),
      }),
      400,
      "bad-request",
    );
    expect(problem.detail).toBe("The body is empty: send the JSON document.");
    expect(await currentVersion()).toBe(before);
  });

  it.each([
    ["text/plain", 415],
    ["application/x-www-form-urlencoded", 415],
    ["application/json; charset=utf-16", 415],
    ["application/json; charset=iso-8859-1", 415],
    ['application/json; charset="UTF-8"', 200],
    ["application/merge-patch+json; charset=utf8", 200],
  ])("answers a body sent as %s accordingly", async (type, status) => {
    const response = await send(method, path, "{}", { "content-type": type });
    if (status === 415) await expectProblem(response, 415, "unsupported-media-type");
    else {
      // Read and parsed: whatever the endpoint then says of {}, it is not about the media type.
      expect(response.status).not.toBe(415);
      await response.text();
    }
    expect(await currentVersion()).toBe(before);
  });
});
