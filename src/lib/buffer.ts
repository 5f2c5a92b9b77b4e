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

/** A response its stage read in the Worker: the body held in memory, or re-wrapped to stream on, or broken off. */
export type BufferedResponse =
  | { kind: "complete"; body: Blob | null; bytes: number }
  | { kind: "too-large"; response: Response }
  | { kind: "failed" };

/**
 * Reads a response's body for a stage that keeps or shares it (coalescing, idempotency). Over the
 * limit, the response is rebuilt around the bytes already read and the rest, for its own caller.
 * A stage that reads a response this way declares it first (`responseReadInWorker`), so the proxy
 * does not let the header deadline cut the body it reads.
 */
export async function bufferResponse(response: Response, maxBytes: number, onBytes: (bytes: number) => void): Promise<BufferedResponse> {
  if (response.body === null) return { kind: "complete", body: null, bytes: 0 };
  const buffered = await bufferUpTo(response.body, maxBytes, onBytes);
  if (buffered.kind === "too-large") return { kind: "too-large", response: new Response(buffered.body, response) };
  return buffered.kind === "failed" ? buffered : { kind: "complete", body: buffered.body, bytes: buffered.bytes };
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
