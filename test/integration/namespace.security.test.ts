/**
 * The gateway's own namespace (/__gateway) is decided on the normalized path and never proxied:
 * not by a catch-all, a `:param` route or any other route, whatever spelling the client uses, and
 * whatever a rewrite would make of it upstream. Every spelling that is not the canonical path of an
 * endpoint gets 404 route-not-found, and the admin token never reaches an origin.
 */
import { describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { ADMIN_TOKEN, admin, currentVersion } from "../admin-support.ts";
import { applyConfig, expectProblem, gateway, origin, originHits } from "../support.ts";

/** Routes that would take a namespace path if the namespace were not reserved; all send it to /echo, which counts. */
const GREEDY_ROUTES: Array<[string, GatewayConfigInput["routes"][number]]> = [
  ["a catch-all with a prefix rewrite", { id: "all", match: { path: "/*" }, cluster: "o", rewrite: { prefix: "/echo" } }],
  ["a :param wildcard", { id: "param", match: { path: "/:p/*" }, cluster: "o", rewrite: { path: "/echo/:p/*" } }],
  ["exact :param segments", { id: "params", match: { path: "/:a/:b/:c" }, cluster: "o", rewrite: { path: "/echo/:a/:b/:c" } }],
  ["a single :param", { id: "one", match: { path: "/:a" }, cluster: "o", rewrite: { path: "/echo/:a" } }],
  ["a catch-all that rewrites every path away", { id: "away", match: { path: "/*" }, cluster: "o", rewrite: { path: "/echo" } }],
];

/** Spellings the router normalizes into the namespace but that are not its canonical paths. */
const NON_CANONICAL = [
  "//__gateway/admin/config",
  "///__gateway/admin/config",
  "//__gateway//admin/config",
  "//__gateway/health",
  "//__gateway",
  "//__gateway/",
  "/__GATEWAY/admin/config",
  "/__Gateway/health",
  "/__gateWAY",
  "/%5F_GATEWAY/admin/config",
  "//%5F_gateway/admin/config",
  "//__%67ateway/admin/config",
  "/x/..//__gateway/admin/config",
];

/** Spellings the URL parser or the router decodes to a canonical path: served as that endpoint, with its auth. */
const CANONICAL_ALIASES = [
  "/./__gateway/admin/config",
  "/x/../__gateway/admin/config",
  "/x/%2e%2e/__gateway/admin/config",
  "/%2E/__gateway/admin/config",
  "/%5F_gateway/admin/config",
  "/_%5fgateway/admin/config",
  "/__%67ateway/admin/config",
  "/__gateway/%61dmin/config",
];

/** Namespace paths that are no endpoint at all. */
const NOT_ENDPOINTS = [
  "/__gateway",
  "/__gateway/",
  "/__gateway/nope",
  "/__gateway/admin/../nope",
  "/__gateway/health/x",
  "/__gateway//admin/config",
];

function configWith(route: GatewayConfigInput["routes"][number]): GatewayConfigInput {
  return { clusters: { o: { targets: [{ url: origin }] } }, routes: [route] };
}

const withToken = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

describe("the /__gateway namespace: security", () => {
  describe.each(GREEDY_ROUTES)("with %s", (_, route) => {
    it.each(NON_CANONICAL)("%s with the admin token gets 404 route-not-found, not the origin", async (path) => {
      await applyConfig(configWith(route));
      const key = crypto.randomUUID();
      for (const method of ["GET", "PUT", "POST", "DELETE"]) {
        const response = await gateway(`${path}?key=${key}`, { method, ...withToken });
        const problem = await expectProblem(response, 404, "route-not-found");
        expect(problem.detail).toContain("/__gateway");
      }
      expect(await originHits(key)).toBe(0);
    });

    it.each(CANONICAL_ALIASES)("%s is served as the admin endpoint, with its auth, never proxied", async (path) => {
      await applyConfig(configWith(route));
      const key = crypto.randomUUID();
      const refused = await gateway(`${path}?key=${key}`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("content-type")).toBe("application/problem+json");
      await refused.text();
      const served = await gateway(`${path}?key=${key}`, withToken);
      expect(served.status).toBe(200);
      expect(((await served.json()) as { version: string }).version).toBe(await currentVersion());
      expect(await originHits(key)).toBe(0);
    });

    it.each(NOT_ENDPOINTS)("%s gets 404 route-not-found, with or without the token", async (path) => {
      await applyConfig(configWith(route));
      const key = crypto.randomUUID();
      await expectProblem(await gateway(`${path}?key=${key}`), 404, "route-not-found");
      await expectProblem(await gateway(`${path}?key=${key}`, { method: "POST", ...withToken }), 404, "route-not-found");
      expect(await originHits(key)).toBe(0);
    });
  });

  it("an admin token sent by a non-canonical path never reaches an origin on a plain catch-all", async () => {
    await applyConfig(configWith({ id: "all", match: { path: "/*" }, cluster: "o" }));
    for (const path of NON_CANONICAL) {
      const response = await gateway(path, withToken);
      const body = await response.text();
      expect(response.headers.get("content-type"), path).toBe("application/problem+json");
      expect(body).not.toContain(ADMIN_TOKEN);
    }
  });

  it("still proxies paths that only look like the namespace", async () => {
    await applyConfig(configWith({ id: "all", match: { path: "/*" }, cluster: "o", rewrite: { prefix: "/echo" } }));
    for (const path of ["/__gatewayx/a", "/x/__gateway/admin/config", "/__gateway.json", "/_gateway/a"]) {
      const response = await gateway(path);
      expect(response.status, path).toBe(200);
      expect(((await response.json()) as { url: string }).url).toBe(`/echo${path}`);
    }
  });

  it("refuses a route in the namespace at publish, with its field path, and writes nothing", async () => {
    await applyConfig(configWith({ id: "all", match: { path: "/*" }, cluster: "o" }));
    const before = await currentVersion();
    for (const path of ["/__gateway", "/__gateway/*", "/__gateway/admin/config", "/__gateway/admin/*", "/__Gateway/:x", "/__GATEWAY/"]) {
      const document = configWith({ id: "all", match: { path: "/*" }, cluster: "o" });
      document.routes.push({ id: "ns", match: { path }, cluster: "o" });
      const response = await admin("PUT", "/config", { body: document, headers: { "if-match": "*" } });
      const problem = await expectProblem(response, 422, "invalid-config");
      expect(problem.issues).toContainEqual({
        path: "routes[1].match.path",
        message: "is in the gateway's own namespace (/__gateway), which is never proxied",
      });
      const edit = await admin("PUT", "/config/routes/ns", { body: { match: { path }, cluster: "o" } });
      expect((await expectProblem(edit, 422, "invalid-config")).issues?.[0]?.path).toBe("routes[1].match.path");
    }
    expect(await currentVersion()).toBe(before);
  });
});
