/**
 * The client's request body on its way to the upstream, watched so that the gateway knows whose
 * fault a failed attempt is, and so that a body it stops never reaches the upstream as a complete
 * request.
 *
 * Why not simply error the stream: when the body of an outgoing fetch errors, the runtime ends the
 * upstream request as if the body had ended (a chunked upload gets its last chunk), and the
 * upstream executes a write with a body the client never sent. So a stopped body is never errored
 * nor closed: it stays open and `stopped` aborts the fetch, which tears the connection down
 * mid-body, and the upstream sees an aborted request. Verified on the wire (test/e2e/wire.test.ts).
 */

/** Where the body stands: still flowing, all of it forwarded, or stopped and why. */
export type BodyOutcome = "streaming" | "complete" | "incomplete" | "too-large";

export interface BodyLimits {
  /** The route's maxBodyBytes; null for no limit. */
  maxBytes: number | null;
  /** The client's Content-Length, kept for the upstream request; null for a chunked body. */
  declaredLength: number | null;
}

/** Largest piece read from the client at once. */
const READ_BYTES = 64 * 1024;

interface ChunkReader {
  reader: ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader;
  /** The next piece: whatever the client has sent, up to READ_BYTES (`forwarded`: bytes so far). */
  next(forwarded: number): Promise<ReadableStreamReadResult<Uint8Array>>;
}

/**
 * Reads the client's body in pieces as large as what has arrived. The runtime hands a request body
 * out in 4 KiB chunks, and every chunk costs a round through this JS stream: read with a buffer of
 * our own (BYOB), one read takes all that is there, which makes a large upload several times faster.
 * A buffer never exceeds what is left of a declared length (plus one byte to see the end), so a
 * small body allocates a small buffer.
 */
function chunkReader(source: ReadableStream<Uint8Array>, declaredLength: number | null): ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (request bodies are, on the runtime): its own chunks, as they come.
    const reader = source.getReader();
    return { reader, next: () => reader.read() };
  }
  return {
    reader: byob,
    next: (forwarded) => {
      const size = declaredLength === null ? READ_BYTES : Math.max(1, Math.min(READ_BYTES, declaredLength - forwarded + 1));
      return byob.read(new Uint8Array(size));
    },
  };
}

export class WatchedBody {
  /** What the upstream request sends. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #stop = new AbortController();
  #outcome: BodyOutcome = "streaming";
  #bytes = 0;
  /** Since when the forward has been waiting for the client's next chunk; 0 when it is not. */
  #waitingSince = 0;
  #clientWaitMs = 0;

  constructor(source: ReadableStream<Uint8Array>, limits: BodyLimits) {
    const { maxBytes, declaredLength } = limits;
    const read = chunkReader(source, declaredLength);
    this.stream = new ReadableStream<Uint8Array>(
      {
        // The upstream request keeps the client's framing: Content-Length when it declared one.
        expectedLength: declaredLength ?? undefined,
        pull: async (controller) => {
          if (this.#outcome !== "streaming") return;
          this.#waitingSince = Date.now();
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await read.next(this.#bytes);
          } catch {
            // Malformed chunked framing, fewer bytes than declared, or a client that went away.
            this.#stopWith("incomplete");
            return;
          } finally {
            this.#clientWaitMs += Date.now() - this.#waitingSince;
            this.#waitingSince = 0;
          }
          if (this.#outcome !== "streaming") return;
          if (chunk.done) {
            if (declaredLength !== null && this.#bytes !== declaredLength) {
              this.#stopWith("incomplete");
              return;
            }
            this.#outcome = "complete";
            controller.close();
            return;
          }
          this.#bytes += chunk.value.byteLength;
          if (maxBytes !== null && this.#bytes > maxBytes) {
            this.#stopWith("too-large");
            return;
          }
          controller.enqueue(chunk.value);
        },
        cancel: (reason) => {
          read.reader.cancel(reason).catch(() => {});
        },
      },
      // Read from the client only when the upstream asks for more: nothing is held in the gateway.
      { highWaterMark: 0 },
    );
  }

  /** Aborted once the gateway stopped the body; every fetch that sends it must abort with it. */
  get stopped(): AbortSignal {
    return this.#stop.signal;
  }

  get outcome(): BodyOutcome {
    return this.#outcome;
  }

  /** Whether the forward is waiting on the client right now (for its next chunk), not on the upstream. */
  get waitingOnClient(): boolean {
    return this.#waitingSince !== 0;
  }

  /** Milliseconds the forward spent waiting on the client so far: not the upstream's latency. */
  clientWaitMs(now: number): number {
    return this.#clientWaitMs + (this.#waitingSince === 0 ? 0 : now - this.#waitingSince);
  }

  #stopWith(outcome: "incomplete" | "too-large"): void {
    if (this.#outcome !== "streaming") return;
    this.#outcome = outcome;
    // No reason of its own: the runtime reports an abort with a custom reason as an uncaught error.
    this.#stop.abort();
  }
}
