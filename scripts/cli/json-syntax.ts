/**
 * Where JSON text stops being JSON (RFC 8259), for an error message with a line and column:
 * JSON.parse's own messages name a position in some cases and a snippet of the text (which may
 * span lines) in others, and differ between Node versions. Runs only after JSON.parse refused the
 * text. One pass with an explicit stack, so any nesting depth is fine.
 */

export interface JsonSyntaxError {
  /** UTF-16 offset into the text. */
  offset: number;
  message: string;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4})/y;

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** The first syntax error in `text`, or null when it is valid JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | null {
  const containers: Array<"{" | "["> = [];
  // What the next token may be: a value, a property name, or (after a value) a comma or a close.
  let expecting: "value" | "first-value" | "name" | "first-name" | "after-value" = "value";
  let i = 0;
  const found = () => {
    if (i >= text.length) return "the end of the text";
    const char = String.fromCodePoint(text.codePointAt(i) as number);
    // Invisible characters by their code point, so that the message stays one readable line.
    return /^[\p{Cc}\p{Cf}\p{Z}]$/u.test(char)
      ? `U+${(char.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, "0")}`
      : `'${char}'`;
  };
  for (;;) {
    while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
    const char = text[i];
    if (expecting === "after-value") {
      const open = containers.at(-1);
      if (open === undefined) return i < text.length ? { offset: i, message: `unexpected ${found()} after the document` } : null;
      const close = open === "{" ? "}" : "]";
      if (char === ",") {
        i++;
        expecting = open === "{" ? "name" : "value";
      } else if (char === close) {
        i++;
        containers.pop();
      } else return { offset: i, message: `expected ',' or '${close}', found ${found()}` };
      continue;
    }
    if (expecting === "name" || expecting === "first-name") {
      if (expecting === "first-name" && char === "}") {
        i++;
        containers.pop();
        expecting = "after-value";
        continue;
      }
      if (char !== '"') return { offset: i, message: `expected a property name in double quotes, found ${found()}` };
      const problem = skipString();
      if (problem) return problem;
      while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
      if (text[i] !== ":") return { offset: i, message: `expected ':' after the property name, found ${found()}` };
      i++;
      expecting = "value";
      continue;
    }
    if (expecting === "first-value" && char === "]") {
      i++;
      containers.pop();
      expecting = "after-value";
      continue;
    }
    if (char === "{" || char === "[") {
      containers.push(char);
      i++;
      expecting = char === "{" ? "first-name" : "first-value";
      continue;
    }
    if (char === '"') {
      const problem = skipString();
      if (problem) return problem;
    } else if (text.startsWith("true", i)) i += 4;
    else if (text.startsWith("false", i)) i += 5;
    else if (text.startsWith("null", i)) i += 4;
    else {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) return { offset: i, message: `expected a value, found ${found()}` };
      i = NUMBER.lastIndex;
    }
    expecting = "after-value";
  }

  /** Moves `i` past the string that starts at it, or says what is wrong with it. */
  function skipString(): JsonSyntaxError | null {
    const start = i;
    i++;
    while (i < text.length) {
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return null;
      }
      if (code === 0x5c) {
        ESCAPE.lastIndex = i;
        if (!ESCAPE.test(text)) return { offset: i, message: "invalid escape in a string" };
        i = ESCAPE.lastIndex;
      } else if (code < 0x20) {
        return { offset: i, message: "a control character (a line break or tab) inside a string must be escaped" };
      } else i++;
    }
    return { offset: start, message: "a string that is never closed starts here" };
  }
}

/** 1-based line and column of an offset; a line ends at "\n" (so "\r\n" too). */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
