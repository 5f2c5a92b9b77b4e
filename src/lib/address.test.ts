import { describe, expect, it } from "vitest";
import { isNonPublicHost } from "./address.ts";

const hostOf = (url: string) => new URL(url).hostname;

describe("isNonPublicHost", () => {
  it.each([
    "http://127.0.0.1",
    "http://127.8.9.10",
    "http://localhost",
    "http://api.localhost",
    "http://10.1.2.3",
    "http://172.16.0.1",
    "http://172.31.255.255",
    "http://192.168.1.1",
    "http://169.254.169.254",
    "http://100.64.0.1",
    "http://0.0.0.0",
    "http://[::1]",
    "http://[::]",
    "http://[fe80::1]",
    "http://[fd00::1]",
    "http://[::ffff:127.0.0.1]",
    "http://[::ffff:10.0.0.1]",
    // The WHATWG parser canonicalizes these forms to 127.0.0.1 before we look.
    "http://2130706433",
    "http://0x7f.1",
    "http://127.1",
  ])("%s is not public", (url) => {
    expect(isNonPublicHost(hostOf(url))).toBe(true);
  });

  it.each([
    "http://example.com",
    "http://8.8.8.8",
    "http://172.32.0.1",
    "http://192.169.0.1",
    "http://[2606:4700::1111]",
    "http://[::ffff:8.8.8.8]",
    "http://localhost.example.com",
  ])("%s is public", (url) => {
    expect(isNonPublicHost(hostOf(url))).toBe(false);
  });
});
