/**
 * Reads an answer's body into one Blob when it fits the sharing limit. A Blob is plain memory that
 * any request may wrap in its own Response, unlike the stream it came from; a body over the limit
 * goes on streaming to its own caller, the bytes already read first.
 */

export type BufferedBody =
  | { kind: "complete"; body: Blob; bytes: number }
  | { kind: "too-large"; body: ReadableStream<Uint8Array>; bytes: number }
  | { kind: "failed" };

/** Reads `body` until it ends or passes `maxBytes`; `onBytes` sees each chunk's size as it is held. */
export async function bufferUpTo(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  onBytes: (bytes: number) => void,
): Promise<BufferedBody> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { kind: "complete", body: new Blob(chunks), bytes };
      chunks.push(value);
      bytes += value.byteLength;
      onBytes(value.byteLength);
      if (bytes > maxBytes) return { kind: "too-large", body: replayThenRest(chunks, reader), bytes };
    }
  } catch {
    // The upstream reset the connection or the cluster's response timeout cut the body.
    return { kind: "failed" };
  }
}

function replayThenRest(chunks: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next < chunks.length) {
        controller.enqueue(chunks[next] as Uint8Array);
        chunks[next++] = new Uint8Array(0);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
