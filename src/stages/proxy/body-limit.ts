/**
 * Enforces a route's body limit on a request body that did not declare its length: bytes are
 * counted as they stream through, and the stream fails at the first byte over the limit.
 */

export interface LimitedBody {
  body: ReadableStream<Uint8Array>;
  /** True once the body went over the limit; the upload was cut there. */
  exceeded: () => boolean;
}

export function limitBody(body: ReadableStream<Uint8Array>, maxBytes: number): LimitedBody {
  let seen = 0;
  let exceeded = false;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          exceeded = true;
          controller.error(new RangeError("request body exceeds the route's maxBodyBytes"));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  return { body: counted, exceeded: () => exceeded };
}
