import { describe, expect, it } from "vitest";
import { answerShapingField, matchesVary, unshareableReason, varyNames, varyValues } from "./response.ts";

const h = (init: Record<string, string>) => new Headers(init);

describe("unshareableReason", () => {
  it("shares a plain answer, whatever its status", () => {
    expect(unshareableReason(200, h({ "content-type": "application/json" }))).toBeNull();
    expect(unshareableReason(404, h({}))).toBeNull();
    expect(unshareableReason(503, h({ "cache-control": "max-age=0, no-cache" }))).toBeNull();
  });

  it("keeps answers that belong to one caller to that caller", () => {
    expect(unshareableReason(200, h({ "set-cookie": "session=abc" }))).toBe("set-cookie");
    expect(unshareableReason(200, h({ "cache-control": "max-age=60, Private" }))).toBe("private");
    expect(unshareableReason(200, h({ "cache-control": 'private="x-user"' }))).toBe("private");
    expect(unshareableReason(200, h({ "cache-control": "no-store" }))).toBe("no-store");
    expect(unshareableReason(200, h({ vary: "Accept, *" }))).toBe("vary-star");
    expect(unshareableReason(206, h({}))).toBe("partial");
    expect(unshareableReason(304, h({ etag: '"v1"' }))).toBe("conditional");
    expect(unshareableReason(412, h({}))).toBe("conditional");
  });

  it("treats Vary: * in any list form as varying on everything", () => {
    expect(unshareableReason(200, h({ vary: "*" }))).toBe("vary-star");
    expect(unshareableReason(200, h({ vary: "accept ,\t* " }))).toBe("vary-star");
    const two = new Headers([
      ["vary", "Accept"],
      ["vary", "*"],
    ]);
    expect(unshareableReason(200, two)).toBe("vary-star");
  });

  it("keeps an answer that varies on a field set anew per request to its own caller", () => {
    for (const vary of ["X-Request-Id", "accept, x-request-id", "TraceParent", "X_Request_Id", "x-request_id"]) {
      expect(unshareableReason(200, h({ vary })), vary).toBe("vary-per-request");
    }
    expect(unshareableReason(200, h({ vary: "tracestate" }))).toBeNull();
  });

  it("does not mistake a directive's argument for a directive", () => {
    expect(unshareableReason(200, h({ "cache-control": 'no-cache="private"' }))).toBeNull();
  });
});

describe("vary", () => {
  it("lists Vary names lower-case, folded and once", () => {
    expect(varyNames("Accept-Encoding, accept-language ,Accept-Encoding")).toEqual(["accept-encoding", "accept-language"]);
    expect(varyNames("X_User_Id,\tx-user-id, ,")).toEqual(["x-user-id"]);
    expect(varyNames(null)).toEqual([]);
  });

  it("compares every field an origin reads under a varied name, whatever its spelling", () => {
    const leader = varyValues(["x-user-id"], h({ "x-user-id": "alice" }));
    expect(matchesVary(leader, h({ "X-User-Id": "alice" }))).toBe(true);
    expect(matchesVary(leader, h({ "x-user-id": "bob" }))).toBe(false);
    expect(matchesVary(leader, h({ "x-user-id": "alice", x_user_id: "bob" }))).toBe(false);
    expect(matchesVary(varyValues(["x_user_id"], h({ "x-user-id": "alice" })), h({ "x-user-id": "bob" }))).toBe(false);
    expect(matchesVary(varyValues(["x-user-id"], h({ x_user_id: "alice" })), h({ "x-user-id": "alice" }))).toBe(false);
  });

  it("matches a follower only when it agrees on every varied field, absent ones included", () => {
    const leader = varyValues(["accept-language", "x-variant"], h({ "accept-language": "de" }));
    expect(matchesVary(leader, h({ "accept-language": "de" }))).toBe(true);
    expect(matchesVary(leader, h({ "accept-language": "fr" }))).toBe(false);
    expect(matchesVary(leader, h({ "accept-language": "de", "x-variant": "b" }))).toBe(false);
  });
});

describe("answerShapingField", () => {
  it.each([
    ["range", "bytes=0-9", "range"],
    ["If-Range", '"v1"', "if-range"],
    ["If-None-Match", '"v1"', "if-none-match"],
    ["if-match", "*", "if-match"],
    ["If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT", "if-modified-since"],
    ["If-Unmodified-Since", "Wed, 21 Oct 2015 07:28:00 GMT", "if-unmodified-since"],
    // Spellings a CGI-style origin reads as the same field.
    ["if_none_match", '"v1"', "if-none-match"],
    ["If_Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT", "if-modified-since"],
    ["IF-MATCH", "*", "if-match"],
  ])("finds %s", (name, value, field) => {
    expect(answerShapingField(h({ accept: "*/*", [name]: value }))).toBe(field);
  });

  it("finds none in a plain read, whatever else it carries", () => {
    expect(
      answerShapingField(h({ accept: "*/*", "accept-language": "en", "cache-control": "no-cache", "x-if-none-match": "x" })),
    ).toBeNull();
  });
});
