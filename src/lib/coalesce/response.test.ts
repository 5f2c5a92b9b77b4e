import { describe, expect, it } from "vitest";
import { matchesVary, unshareableReason, varyNames, varyValues } from "./response.ts";

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
  });

  it("does not mistake a directive's argument for a directive", () => {
    expect(unshareableReason(200, h({ "cache-control": 'no-cache="private"' }))).toBeNull();
  });
});

describe("vary", () => {
  it("lists Vary names lower-case and once", () => {
    expect(varyNames("Accept-Encoding, accept-language ,Accept-Encoding")).toEqual(["accept-encoding", "accept-language"]);
    expect(varyNames(null)).toEqual([]);
  });

  it("matches a follower only when it agrees on every varied field, absent ones included", () => {
    const leader = varyValues(["accept-language", "x-variant"], h({ "accept-language": "de" }));
    expect(matchesVary(leader, h({ "accept-language": "de" }))).toBe(true);
    expect(matchesVary(leader, h({ "accept-language": "fr" }))).toBe(false);
    expect(matchesVary(leader, h({ "accept-language": "de", "x-variant": "b" }))).toBe(false);
  });
});
