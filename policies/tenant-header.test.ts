/**
 * The tenant-header example, called as a plain function with the context the gateway would hand
 * it (policies/_testing.ts). Through the Worker: test/integration/policies.custom.test.ts.
 */
import { describe, expect, it } from "vitest";
import { jwtCaller, testContext } from "./_testing.ts";
import { inbound } from "./tenant-header.ts";

const URL_ = "https://gateway.example.com/orders";

function request(headers: Record<string, string>): Request {
  return new Request(URL_, { headers });
}

describe("tenant-header", () => {
  it("passes a caller of the named tenant, and sets the tenant for the upstream in every spelling's place", async () => {
    const shown = request({ "x-tenant": "acme", "x-tenant-id": "initech", x_tenant_id: "initech" });
    const result = await inbound(shown, testContext({}, { caller: jwtCaller({ sub: "alice", tenant: "acme" }) }));
    expect(result).toBeUndefined();
    expect(shown.headers.get("x-tenant-id")).toBe("acme");
    expect(shown.headers.has("x_tenant_id")).toBe(false);
  });

  it("takes a claim that lists several tenants", async () => {
    const shown = request({ "x-tenant": "globex" });
    expect(await inbound(shown, testContext({}, { caller: jwtCaller({ tenant: ["acme", "globex"] }) }))).toBeUndefined();
    expect(shown.headers.get("x-tenant-id")).toBe("globex");
  });

  it("answers 403 for another tenant, or none named, and logs the refusal", async () => {
    const context = testContext({}, { caller: jwtCaller({ sub: "alice", tenant: "acme" }) });
    const refused = (await inbound(request({ "x-tenant": "globex" }), context)) as Response;
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(await refused.json()).toEqual({
      type: "about:blank",
      title: "Forbidden",
      status: 403,
      detail: "This credential does not belong to tenant 'globex'.",
      requestId: "test-request-id",
    });
    expect(context.logged).toEqual([{ level: "info", event: "tenant.refused", fields: { subject: "alice", asked: "globex" } }]);
    const unnamed = (await inbound(request({}), context)) as Response;
    expect(unnamed.status).toBe(403);
    const claimless = (await inbound(request({ "x-tenant": "acme" }), testContext({}, { caller: jwtCaller({ sub: "bob" }) }))) as Response;
    expect(claimless.status).toBe(403);
  });

  it("reads its claim and headers from the options", async () => {
    const shown = request({ "x-org": "acme" });
    const options = { claim: "org", header: "x-org", forwardAs: "x-org-id" };
    expect(await inbound(shown, testContext(options, { caller: jwtCaller({ org: "acme" }) }))).toBeUndefined();
    expect(shown.headers.get("x-org-id")).toBe("acme");
  });

  it("throws on a route without auth, or on options of the wrong type: mistakes of the config, which the gateway answers as 500", () => {
    expect(() => inbound(request({ "x-tenant": "acme" }), testContext())).toThrow("tenant-header needs a route with auth");
    expect(() => inbound(request({}), testContext({ claim: 7 }, { caller: jwtCaller({}) }))).toThrow(
      "options.claim must be a non-empty string",
    );
  });
});
