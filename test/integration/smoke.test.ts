import { describe, expect, it } from "vitest";
import { applyConfig, gateway, simpleConfig } from "../support.ts";

describe("smoke", () => {
  it("proxies a GET", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo/hello?x=1");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { url: string };
    expect(body.url).toBe("/echo/hello?x=1");
  });
});
