/**
 * Bodies stream through the gateway in both directions. The lock-step tests make buffering
 * observable: the origin (or client) holds the rest of a body back until the other side has
 * received the first chunk, so a gateway that buffered would stall and the test would time out.
 */
import { describe, expect, it } from "vitest";
import { applyConfig, gateway, origin, simpleConfig } from "../support.ts";

const MiB = 1024 * 1024;

/** Reads a stream to its end, keeping only a count: the test itself holds no body in memory. */
async function countBytes(body: ReadableStream<Uint8Array> | null): Promise<number> {
  let total = 0;
  const reader = body?.getReader();
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) return total;
    total += chunk.value.byteLength;
  }
}

/** A body of `bytes` generated on demand, 64 KiB at a time. */
function generatedBody(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(120);
  let left = bytes;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const piece = left >= chunk.byteLength ? chunk : chunk.subarray(0, left);
      left -= piece.byteLength;
      controller.enqueue(piece);
    },
  });
}

describe("streaming", () => {
  it("delivers the first bytes of a response before the origin has sent the rest", async () => {
    await applyConfig(simpleConfig());
    const id = crypto.randomUUID();
    const res = await gateway(`/lockstep/download?id=${id}&rest=${4 * MiB}`);
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(first?.done).toBe(false);
    await fetch(`${origin}/__control/release?id=${id}`);
    let total = first?.value?.byteLength ?? 0;
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      total += chunk.value.byteLength;
    }
    expect(total).toBe(64 * 1024 + 4 * MiB);
  });

  it("delivers the first bytes of an upload before the client has sent the rest", async () => {
    await applyConfig(simpleConfig());
    const id = crypto.randomUUID();
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const responsePromise = gateway(`/lockstep/upload?id=${id}`, { method: "PUT", body: readable });
    await writer.write(new Uint8Array(64 * 1024).fill(97));
    let received = 0;
    for (let i = 0; i < 500 && received === 0; i++) {
      received = ((await (await fetch(`${origin}/__control/received?id=${id}`)).json()) as { bytes: number }).bytes;
      if (received === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(received).toBeGreaterThan(0);
    await writer.write(new Uint8Array(MiB).fill(98));
    await writer.close();
    const res = await responsePromise;
    expect(((await res.json()) as { bytes: number }).bytes).toBe(64 * 1024 + MiB);
  });

  it("streams a 256 MiB response", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway(`/download?bytes=${256 * MiB}`);
    expect(await countBytes(res.body)).toBe(256 * MiB);
  });

  it("streams a 256 MiB upload of unknown length", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo/upload", { method: "POST", body: generatedBody(256 * MiB) });
    expect(((await res.json()) as { bodyBytes: number }).bodyBytes).toBe(256 * MiB);
  });
});
