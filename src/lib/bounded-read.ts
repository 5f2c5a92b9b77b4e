/**
 * Reads a body (a request's, or a fetched document's) into memory only up to a byte limit. The limit counts bytes as they arrive,
 * whatever Content-Length says (a chunked body has none, and a declared length is the sender's
 * claim); reading stops, and the stream is cancelled, at the first chunk past the limit, so an
 * oversized body is never buffered whole.
 */

export type BoundedRead = { kind: "complete"; bytes: Uint8Array } | { kind: "too-large"; bytesRead: number };

/** Reads `body` to its end if it holds at most `maxBytes`; a null body reads as empty. */
export async function readUpTo(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<BoundedRead> {
  if (body === null) return { kind: "complete", bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // The rest is not wanted: cancelling tells the sender to stop instead of draining it.
      reader.cancel().catch(() => {});
      return { kind: "too-large", bytesRead: total };
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return { kind: "complete", bytes: chunks[0] as Uint8Array };
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { kind: "complete", bytes };
}
