import { describe, expect, it } from "vitest";
import { bufferUpTo } from "./buffer.ts";

function streamOf(chunks: Uint8Array[], failAfter = false): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(chunks[next++] as Uint8Array);
      else if (failAfter) controller.error(new Error("connection reset"));
      else controller.close();
    },
  });
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe("bufferUpTo", () => {
  it("returns the whole body as one Blob when it fits", async () => {
    let seen = 0;
    const result = await bufferUpTo(streamOf([bytes(3, 1), bytes(4, 2)]), 7, (n) => {
      seen += n;
    });
    expect(result.kind).toBe("complete");
    if (result.kind !== "complete") return;
    expect(result.bytes).toBe(7);
    expect(seen).toBe(7);
    expect([...new Uint8Array(await result.body.arrayBuffer())]).toEqual([1, 1, 1, 2, 2, 2, 2]);
  });

  it("stops holding at the first chunk over the limit and replays what it read, then the rest", async () => {
    let seen = 0;
    const result = await bufferUpTo(streamOf([bytes(3, 1), bytes(4, 2), bytes(5, 3)]), 5, (n) => {
      seen += n;
    });
    expect(result.kind).toBe("too-large");
    if (result.kind !== "too-large") return;
    // Two chunks were read before the limit showed; the third was never held.
    expect(seen).toBe(7);
    const all = new Uint8Array(await new Response(result.body).arrayBuffer());
    expect(all.length).toBe(12);
    expect([...all.slice(0, 3), ...all.slice(7)]).toEqual([1, 1, 1, 3, 3, 3, 3, 3]);
  });

  it("reports a body that breaks off as a failure", async () => {
    expect((await bufferUpTo(streamOf([bytes(3, 1)], true), 100, () => {})).kind).toBe("failed");
  });

  it("takes an empty body as complete", async () => {
    const result = await bufferUpTo(streamOf([]), 0, () => {});
    expect(result.kind === "complete" && result.bytes).toBe(0);
  });
});
