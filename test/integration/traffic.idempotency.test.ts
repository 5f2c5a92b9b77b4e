/**
 * Idempotency keys against a real origin that counts what reaches it: replay, a concurrent
 * duplicate, a reused key with another body, scoping to the caller, and release after a failure.
 */
import { describe, expect, it } from "vitest";
import { applyConfig, gateway, originHits, simpleConfig } from "../support.ts";

interface Echo {
  bodyBytes: number;
  sha256: string;
}

function post(path: string, key: string | null, body: string, clientIp = "203.0.113.7"): Promise<Response> {
  return gateway(path, { method: "POST", body, clientIp, headers: key === null ? {} : { "idempotency-key": `"${key}"` } });
}

async function problemType(response: Response): Promise<string> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return ((await response.json()) as { type: string }).type;
}

describe("idempotency keys", () => {
  it("forwards the first request, then replays its answer to a duplicate without reaching the origin", async () => {
    await applyConfig(simpleConfig({ idempotency: {} }));
    const key = crypto.randomUUID();
    const first = await post(`/count?key=${key}`, key, "order #1");
    expect(first.status).toBe(200);
    const body = (await first.json()) as Echo;
    expect(body.bodyBytes).toBe(8);
    const again = await post(`/count?key=${key}`, key, "order #1");
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
    expect(await again.json()).toEqual(body);
    expect(await originHits(key)).toBe(1);
  });

  it("reads a slow answer to its end past the header deadline: 200 to the first, its replay to a duplicate", async () => {
    // Headers arrive at once; the body takes a second, over three times the route's deadline.
    await applyConfig(simpleConfig({ idempotency: {}, timeoutMs: 300 }));
    const key = crypto.randomUUID();
    const path = `/trickle?key=${key}&chunks=10&intervalMs=100`;
    const first = await post(path, key, "order #7");
    expect(first.status).toBe(200);
    const text = await first.text();
    expect(text).toBe(Array.from({ length: 10 }, (_, i) => `chunk ${i}\n`).join(""));
    const again = await post(path, key, "order #7");
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(text);
    expect(await originHits(key)).toBe(1);
  });

  it("answers 422 to the same key with a different body, and never forwards it", async () => {
    await applyConfig(simpleConfig({ idempotency: {} }));
    const key = crypto.randomUUID();
    await (await post(`/count?key=${key}`, key, "pay 10")).text();
    const other = await post(`/count?key=${key}`, key, "pay 1000");
    expect(other.status).toBe(422);
    expect(await problemType(other)).toBe("urn:edgegate:problem:idempotency-key-reused");
    expect(await originHits(key)).toBe(1);
  });

  it("lets one of concurrent duplicates through and answers the others 409", async () => {
    await applyConfig(simpleConfig({ idempotency: {} }));
    const key = crypto.randomUUID();
    const responses = await Promise.all(Array.from({ length: 6 }, () => post(`/slow?ms=400&key=${key}`, key, "same")));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409]);
    for (const r of responses.filter((x) => x.status === 409)) {
      expect(r.headers.get("retry-after")).toBe("1");
      expect(await problemType(r)).toBe("urn:edgegate:problem:idempotency-conflict");
    }
    expect(await originHits(key)).toBe(1);
    // Once it has finished, a duplicate gets its answer.
    const later = await post(`/slow?ms=400&key=${key}`, key, "same");
    expect(later.headers.get("idempotent-replayed")).toBe("true");
  });

  it("scopes keys to the caller: the same key from another client is its own", async () => {
    await applyConfig(simpleConfig({ idempotency: {} }));
    const key = crypto.randomUUID();
    await (await post(`/count?key=${key}`, key, "x", "203.0.113.1")).text();
    const other = await post(`/count?key=${key}`, key, "y", "203.0.113.2");
    expect(other.status).toBe(200);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(await originHits(key)).toBe(2);
  });

  it("releases the key after an upstream 5xx, so the client's retry runs", async () => {
    await applyConfig(simpleConfig({ idempotency: {} }));
    const key = crypto.randomUUID();
    const failed = await post(`/flaky?failures=1&status=503&key=${key}`, key, "retry me");
    expect(failed.status).toBe(503);
    await failed.text();
    const retried = await post(`/flaky?failures=1&status=503&key=${key}`, key, "retry me");
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(await originHits(key)).toBe(2);
  });

  it("requires the key when the route says so, refuses malformed keys and bodies over the limit, and leaves GET alone", async () => {
    await applyConfig(simpleConfig({ idempotency: { required: true, maxRequestBytes: 100 } }));
    const key = crypto.randomUUID();
    const missing = await post(`/count?key=${key}`, null, "x");
    expect(missing.status).toBe(400);
    expect(await problemType(missing)).toBe("urn:edgegate:problem:bad-request");
    const malformed = await gateway(`/count?key=${key}`, { method: "POST", body: "x", headers: { "idempotency-key": "bad\tkey" } });
    expect(malformed.status).toBe(400);
    await malformed.text();
    const big = await post(`/count?key=${key}`, key, "x".repeat(101));
    expect(big.status).toBe(413);
    await big.text();
    expect(await originHits(key)).toBe(0);
    const read = await gateway(`/count?key=${key}`);
    expect(read.status).toBe(200);
    await read.text();
    expect(await originHits(key)).toBe(1);
  });
});
