import { afterEach, describe, expect, it, vi } from "vitest";
import { consoleSink, errorFields, type LogLine, log, setLogSink } from "./log.ts";

describe("log", () => {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
    vi.restoreAllMocks();
  });

  it("hands every line to the installed sink, and gives back the sink it replaced", () => {
    const lines: LogLine[] = [];
    const previous = setLogSink((line) => lines.push(line));
    restore = () => setLogSink(previous);
    log({ level: "info", event: "config.loaded", version: "v1", routes: 2 });
    expect(lines).toEqual([{ level: "info", event: "config.loaded", version: "v1", routes: 2 }]);
  });

  it("writes one JSON line through the console method of the line's level", () => {
    const methods = ["debug", "info", "warn", "error"] as const;
    const spies = Object.fromEntries(methods.map((m) => [m, vi.spyOn(console, m).mockImplementation(() => {})]));
    const logSpy = vi.spyOn(console, "log").mockImplementation(() => {});
    for (const level of methods) consoleSink({ level, event: `test.${level}`, n: 1 });
    for (const level of methods) {
      expect(spies[level]).toHaveBeenCalledTimes(1);
      expect(JSON.parse(String(spies[level]?.mock.calls[0]?.[0]))).toEqual({ level, event: `test.${level}`, n: 1 });
    }
    expect(logSpy).not.toHaveBeenCalled();
  });

  it("describes a thrown value by name, message and stack, or by its string", () => {
    const fields = errorFields(new RangeError("out of range"));
    expect(fields).toMatchObject({ name: "RangeError", message: "out of range" });
    expect(typeof (fields as { stack: unknown }).stack).toBe("string");
    expect(errorFields("plain")).toBe("plain");
  });
});
