/**
 * Decodes an untrusted JSON document from bytes: strict UTF-8 (RFC 8259 section 8.1), and a bound
 * on nesting checked before JSON.parse. The bound matters after parsing: whatever walks the value
 * next (schema validation, structured clone into a Durable Object, a diff) may recurse, and a
 * document 100,000 levels deep would overflow its stack half-way through a write.
 */

export type JsonDocumentProblem = "empty" | "invalid-utf8" | "too-deep" | "invalid-json";

export type JsonDocument = { ok: true; value: unknown } | { ok: false; problem: JsonDocumentProblem };

const BRACKET_OPEN_ARRAY = 0x5b; // [
const BRACKET_OPEN_OBJECT = 0x7b; // {
const BRACKET_CLOSE_ARRAY = 0x5d; // ]
const BRACKET_CLOSE_OBJECT = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether arrays and objects in `text` nest deeper than `maxDepth` (`[]` and `{}` are depth 1).
 * One pass and a counter, no recursion; brackets inside strings do not count. Meant to run before
 * JSON.parse: on text that is not JSON its answer is only an upper bound, and JSON.parse decides.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === BRACKET_OPEN_ARRAY || code === BRACKET_OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (code === BRACKET_CLOSE_ARRAY || code === BRACKET_CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}

/** Parses a JSON document of at most `maxDepth` levels from its UTF-8 bytes. */
export function parseJsonDocument(bytes: Uint8Array, maxDepth: number): JsonDocument {
  let text: string;
  try {
    // fatal: malformed UTF-8 is refused, not replaced with U+FFFD (which would change the document).
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return { ok: false, problem: "invalid-utf8" };
  }
  if (/^[ \t\n\r]*$/.test(text)) return { ok: false, problem: "empty" };
  if (nestsDeeperThan(text, maxDepth)) return { ok: false, problem: "too-deep" };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, problem: "invalid-json" };
  }
}
