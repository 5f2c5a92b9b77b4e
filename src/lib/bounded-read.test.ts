import { describe, expect, it } from "vitest";
import { readUpTo } from "./bounded-read.ts";

/** A stream of `chunks` chunks of `size` bytes, counting how many were pulled and whether it was cancelled. */
function counted(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (state.pulled === chunks) return controller.close();
        state.pulled++;
        controller.enqueue(new Uint8Array(size).fill(0x61));
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

describe("readUpTo", () => {
  it("reads a body that fits, in one piece", async () => {
    const { stream } = counted(4, 1000);
    const read = await readUpTo(stream, 4000);
    expect(read.kind).toBe("complete");
    expect(read.kind === "complete" && read.bytes.byteLength).toBe(4000);
  });

  it("reads a null body as empty", async () => {
    expect(await readUpTo(null, 10)).toEqual({ kind: "complete", bytes: new Uint8Array(0) });
  });

  it("stops at the first chunk past the limit and cancels the rest, without reading it", async () => {
    const { stream, state } = counted(1_000_000, 1024);
    const read = await readUpTo(stream, 10 * 1024);
    expect(read).toEqual({ kind: "too-large", bytesRead: 11 * 1024 });
    expect(state.pulled).toBe(11);
    expect(state.cancelled).toBe(true);
  });

  it("counts bytes, not characters", async () => {
    const bytes = new TextEncoder().encode("\u20ac".repeat(10));
    expect((await readUpTo(new Blob([bytes]).stream(), 29)).kind).toBe("too-large");
    expect((await readUpTo(new Blob([bytes]).stream(), 30)).kind).toBe("complete");
  });
});
