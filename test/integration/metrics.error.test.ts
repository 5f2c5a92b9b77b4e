/**
 * The admin metrics' refusals: a format it does not serve, and callers without the admin token
 * (who learn nothing of the counters).
 */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "../admin-support.ts";
import { expectProblem, gateway } from "../support.ts";

describe("admin metrics refusals", () => {
  it.each(["xml", "JSON", "", "prometheus,json"])("answers 400 problem+json for format=%j", async (format) => {
    const response = await gateway(`/__gateway/admin/metrics?format=${encodeURIComponent(format)}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    await expectProblem(response, 400, "bad-request");
  });

  it.each([
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer wrong" }],
    ["a token in the wrong scheme", { authorization: `Basic ${ADMIN_TOKEN}` }],
  ])("refuses %s in either format, with no counter in the answer", async (_name, headers: Record<string, string>) => {
    for (const query of ["", "?format=json"]) {
      const response = await gateway(`/__gateway/admin/metrics${query}`, { headers });
      expect(response.status).toBe(401);
      const body = await response.text();
      expect(body).not.toContain("http_requests_total");
      expect(body).not.toContain("# TYPE");
    }
  });
});
