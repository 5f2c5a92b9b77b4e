import { describe, expect, it } from "vitest";
import { asksForWebSocket, exceedsBytes, forwardedClose } from "./handshake.ts";

describe("asksForWebSocket", () => {
  it.each(["websocket", "WebSocket", "WEBSOCKET", " websocket ", "h2c, websocket", "websocket, h2c", "websocket/13", "foo,websocket"])(
    "is a handshake: GET with Upgrade %j",
    (upgrade) => expect(asksForWebSocket("GET", upgrade)).toBe(true),
  );

  it.each([null, "", "h2c", "websockets", "web socket", "xwebsocket", "websocketx/1", "tls/1.2"])(
    "is not: GET with Upgrade %j",
    (upgrade) => expect(asksForWebSocket("GET", upgrade)).toBe(false),
  );

  it.each(["POST", "HEAD", "PUT", "OPTIONS", "DELETE", "PATCH"])(
    "is not: %s, whatever its Upgrade (RFC 6455: a handshake is a GET)",
    (method) => expect(asksForWebSocket(method, "websocket")).toBe(false),
  );
});

describe("forwardedClose", () => {
  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999])("passes %i on as it is", (code) =>
    expect(forwardedClose(code)).toBe(code),
  );

  it("sends no code for a close that had none (1005)", () => expect(forwardedClose(1005)).toBeNull());

  it.each([1004, 1006, 1015, 999, 0, 5000, 65535])("sends 1011 for %i, which no close frame may carry", (code) =>
    expect(forwardedClose(code)).toBe(1011),
  );
});

describe("exceedsBytes", () => {
  it("measures binary messages by their bytes", () => {
    expect(exceedsBytes(new ArrayBuffer(10), 10)).toBe(false);
    expect(exceedsBytes(new ArrayBuffer(11), 10)).toBe(true);
  });

  it("measures text by its UTF-8 bytes, not its UTF-16 length", () => {
    expect(exceedsBytes("a".repeat(10), 10)).toBe(false);
    expect(exceedsBytes("a".repeat(11), 10)).toBe(true);
    expect(exceedsBytes("é".repeat(5), 10)).toBe(false); // 10 bytes
    expect(exceedsBytes("é".repeat(6), 10)).toBe(true); // 12 bytes, 6 code units
    expect(exceedsBytes("€".repeat(3), 9)).toBe(false); // 9 bytes
    expect(exceedsBytes("€".repeat(4), 9)).toBe(true);
    expect(exceedsBytes("😀".repeat(2), 8)).toBe(false); // 8 bytes, 4 code units
    expect(exceedsBytes("😀".repeat(3), 8)).toBe(true);
  });
});
