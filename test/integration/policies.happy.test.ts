/**
 * The policy chain through the Worker: named instances, route lists and defaults, the order they
 * run in, and what the access log and Server-Timing say of each. Each built-in kind has its own
 * tests beside its module and in its own integration file.
 */
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { linesDuring } from "../log-capture.ts";
import { applyConfig, expectProblem, gateway, origin, originHits } from "../support.ts";

function config(extra: Partial<GatewayConfigInput> = {}, routes?: GatewayConfigInput["routes"]): GatewayConfigInput {
  return {
    observability: { accessLog: { sampleRate: 1 }, serverTiming: true },
    clusters: { origin: { targets: [{ url: origin }] } },
    policies: {
      maintenance: { use: "terminate", options: { status: 503, retryAfterSec: 120, detail: "Back at noon." } },
      never: { use: "terminate", options: { share: 0 } },
    },
    routes: routes ?? [
      {
        id: "closed",
        match: { path: "/closed/*" },
        cluster: "origin",
        rewrite: { path: "/count" },
        policies: { inbound: ["maintenance"] },
      },
      { id: "open", match: { path: "/open/*" }, cluster: "origin", rewrite: { path: "/count" }, policies: { inbound: ["never"] } },
      { id: "plain", match: { path: "/plain/*" }, cluster: "origin", rewrite: { path: "/count" } },
    ],
    ...extra,
  };
}

describe("policies: the chain a route runs", () => {
  it("answers from a terminate policy without calling the origin, as a problem with the configured status and Retry-After", async () => {
    await applyConfig(config());
    const key = crypto.randomUUID();
    const response = await gateway(`/closed/x?key=${key}`, { method: "POST", body: "a write" });
    const problem = await expectProblem(response, 503, "terminated");
    expect(problem.detail).toBe("Back at noon.");
    expect(response.headers.get("retry-after")).toBe("120");
    expect(await originHits(key)).toBe(0);
  });

  it("a share of 0 lets every request through, and says so in the access log and Server-Timing", async () => {
    await applyConfig(config());
    const key = crypto.randomUUID();
    let response: Response | undefined;
    const [line] = await linesDuring("access", async () => {
      response = await gateway(`/open/x?key=${key}`);
      await response.text();
    });
    expect(response?.status).toBe(200);
    expect(await originHits(key)).toBe(1);
    expect(line?.decisions).toMatchObject({ policies: { never: "passed" } });
    expect(response?.headers.get("server-timing")).toContain('policy;desc="never:passed"');
  });

  it("a route without policies runs none, and its log line has no policy decisions", async () => {
    await applyConfig(config());
    const [line] = await linesDuring("access", async () => {
      const response = await gateway("/plain/x");
      expect(response.status).toBe(200);
      expect(response.headers.get("server-timing")).not.toContain("policy");
      await response.text();
    });
    expect(line?.decisions).not.toHaveProperty("policies");
  });

  it("defaultPolicies apply to every route without a list of its own; an empty list opts out", async () => {
    await applyConfig(
      config({ defaultPolicies: { inbound: ["maintenance"] } }, [
        { id: "defaulted", match: { path: "/defaulted/*" }, cluster: "origin", rewrite: { path: "/count" } },
        { id: "own", match: { path: "/own/*" }, cluster: "origin", rewrite: { path: "/count" }, policies: {} },
      ]),
    );
    await expectProblem(await gateway("/defaulted/x"), 503, "terminated");
    const own = await gateway("/own/x");
    expect(own.status).toBe(200);
    await own.text();
  });

  it("runs a route's inbound policies in order: the first that answers ends the chain", async () => {
    await applyConfig(
      config({}, [
        {
          id: "both",
          match: { path: "/both/*" },
          cluster: "origin",
          rewrite: { path: "/count" },
          policies: { inbound: ["never", "maintenance"] },
        },
      ]),
    );
    const [line] = await linesDuring("access", async () => {
      await expectProblem(await gateway("/both/x"), 503, "terminated");
    });
    expect(line).toBeDefined();
    expect(Object.entries((line?.decisions as { policies: Record<string, string> } | undefined)?.policies ?? {})).toEqual([
      ["never", "passed"],
      ["maintenance", "terminated"],
    ]);
  });
});
