/**
 * Exposure warnings end to end: an open route that reaches, after its rewrite, paths a route with
 * auth protects on the same upstream is reported by `edgegate validate` and `publish` with its
 * field path and exit code 0, and by the admin API's validate and publish answers. The shipped
 * example has none.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { cli, configFiles } from "./cli-support.ts";

const url = inject("e2eGatewayUrl");
const token = inject("e2eAdminToken");
const ROOT = resolve(import.meta.dirname, "../..");
const { write: configFile } = configFiles("edgegate-warnings-");

const JWT_PROVIDERS = {
  idp: { issuer: "https://idp.example.com/", audience: "shop", jwksUri: "https://idp.example.com/.well-known/jwks.json" },
};

/** The shape of the shipped example's defect: an open /api/* stripping /api onto the cluster of a protected /orders/*. */
function exposed(id: string) {
  return {
    clusters: { shop: { targets: [{ url: "https://shop.internal.example.com/v1" }] } },
    routes: [
      { id, match: { path: "/api/*" }, cluster: "shop", rewrite: { stripPrefix: "/api" } },
      { id: "orders", match: { path: "/orders/*" }, cluster: "shop", auth: { jwt: "idp" } },
      { id: "reports", match: { path: "/reports/:id", methods: ["GET"] }, cluster: "shop", auth: { jwt: "idp" } },
    ],
    jwtProviders: JWT_PROVIDERS,
  };
}

const ORDERS_WARNING = {
  path: "routes[0].rewrite",
  message:
    "has no auth, but /api/orders/* reaches /v1/orders/* on https://shop.internal.example.com (cluster 'shop'), which routes[1] ('orders') protects with auth",
};
const REPORTS_WARNING = {
  path: "routes[0].rewrite",
  message:
    "has no auth, but /api/reports/:param (GET, HEAD) reaches /v1/reports/:param on https://shop.internal.example.com (cluster 'shop'), which routes[2] ('reports') protects with auth",
};

async function adminCall(method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/__gateway/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { warnings?: unknown; version?: string } };
}

describe("exposure warnings", () => {
  it("the shipped example validates without warnings, and its old /api route would have had two", async () => {
    const example = resolve(ROOT, "examples/config.json");
    const clean = await cli(["validate", example, "--allow-private-upstreams"]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stderr).not.toContain("warning");

    const old = JSON.parse(readFileSync(example, "utf8")) as { routes: Array<{ id: string; rewrite?: unknown }> };
    const api = old.routes.findIndex((route) => route.id === "api");
    (old.routes[api] as { rewrite?: unknown }).rewrite = { stripPrefix: "/api" };
    const run = await cli(["validate", configFile(old), "--allow-private-upstreams"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`valid (${old.routes.length} routes, 1 clusters)`);
    expect(run.stderr).toContain("2 warnings");
    expect(run.stderr).toContain(`routes[${api}].rewrite: has no auth, but /api/orders/* reaches /orders/*`);
    expect(run.stderr).toContain(`routes[${api}].rewrite: has no auth, but /api/partners/* reaches /partners/*`);
  });

  it("validate prints every warning with its field path and exits 0", async () => {
    const run = await cli(["validate", configFile(exposed("api"))]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("2 warnings");
    expect(run.stderr).toContain(`  ${ORDERS_WARNING.path}: ${ORDERS_WARNING.message}`);
    expect(run.stderr).toContain(`  ${REPORTS_WARNING.path}: ${REPORTS_WARNING.message}`);
  });

  it("publish publishes, and prints the gateway's warnings", async () => {
    const run = await cli(["publish", configFile(exposed(`api${crypto.randomUUID().slice(0, 8)}`)), "--force"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/published version \S+/);
    expect(run.stderr).toContain(`${ORDERS_WARNING.path}: ${ORDERS_WARNING.message}`);
  });

  it("the admin API's validate and publish answers list the warnings; a config without the overlap has none", async () => {
    const validate = await adminCall("POST", "/config/validate", exposed("api"));
    expect(validate.status).toBe(200);
    expect(validate.body.warnings).toEqual([ORDERS_WARNING, REPORTS_WARNING]);

    const publish = await adminCall("PUT", "/config", exposed("api-2"), { "if-match": "*" });
    expect(publish.status).toBe(201);
    expect(publish.body.warnings).toEqual([ORDERS_WARNING, REPORTS_WARNING]);

    const safe = exposed("api");
    (safe.routes[0] as { rewrite: unknown }).rewrite = { stripPrefix: "/api", prefix: "/public" };
    const clean = await adminCall("POST", "/config/validate", safe);
    expect(clean.status).toBe(200);
    expect(clean.body.warnings).toEqual([]);
    const run = await cli(["validate", configFile(safe)]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
  });
});
