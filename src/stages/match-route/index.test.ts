import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { laterStages, send, stageApp } from "../../../test/stage-support.ts";
import { expectProblem } from "../../../test/support.ts";
import type { GatewayConfigInput } from "../../config/schema.ts";
import { publishConfig } from "../../config/store.ts";
import { matchRoute } from "./index.ts";

// The stage serves the isolate's snapshot of the config in KV: this file publishes one config and
// every test reads it. Nothing here is ever forwarded, so the target is a discard address.
const CONFIG: GatewayConfigInput = {
  clusters: { api: { targets: [{ url: "http://127.0.0.1:9" }] }, files: { targets: [{ url: "http://127.0.0.1:9/files" }] } },
  routes: [
    { id: "user", match: { path: "/users/:id", methods: ["GET", "PUT"] }, cluster: "api" },
    { id: "files", match: { path: "/files/*" }, cluster: "files" },
    // A catch-all on its own host: the reserved namespace must stay unreachable even through it.
    { id: "catch-all", match: { path: "/*", hosts: ["any.stage.test"] }, cluster: "api" },
  ],
};

function routed() {
  const later = laterStages();
  return { app: stageApp(matchRoute(), {}, later.handler), later };
}

beforeAll(async () => {
  const published = await publishConfig(env.CONFIG, CONFIG, { allowPrivateUpstreams: true });
  if (!published.ok) throw new Error(JSON.stringify(published.issues));
  // The isolate's snapshot may predate this file's publish: wait until it serves this config.
  await vi.waitFor(
    async () => {
      const { app, later } = routed();
      await send(app, "/users/1", {}, env);
      expect(later.seen[0]?.route.id).toBe("user");
    },
    { timeout: 5_000, interval: 20 },
  );
});

describe("match-route stage", () => {
  it("sets the route, its runtime, its cluster and the route params for the stages after it", async () => {
    const { app, later } = routed();
    const response = await send(app, "http://Stage.Test:8443/users//./42?x=1", {}, env);
    expect(response.status).toBe(200);
    const seen = later.seen[0];
    if (seen === undefined) throw new Error("the later stages were not reached");
    expect(seen.route.id).toBe("user");
    expect(seen.routeParams).toEqual({ id: "42" });
    expect(seen.normalizedPath).toBe("/users/42");
    expect(seen.host).toBe("stage.test");
    // The runtime lower-cases the URL's host; the authority keeps the port.
    expect(seen.authority).toBe("stage.test:8443");
    expect(seen.cluster).toBe(seen.route.cluster);
    expect(seen.cluster.name).toBe("api");
    expect(seen.clusterRuntime).toBe(seen.routeRuntime.cluster);
    expect(seen.observability).toBeDefined();
    expect(seen.record).toMatchObject({ routeId: "user", cluster: "api", path: "/users/42" });
  });

  it("gives each route its own runtime handles", async () => {
    const { app, later } = routed();
    await send(app, "/users/1", {}, env);
    await send(app, "/files/a/b", {}, env);
    const [user, files] = later.seen;
    expect(files?.route.id).toBe("files");
    expect(files?.cluster.name).toBe("files");
    expect(files?.routeRuntime).not.toBe(user?.routeRuntime);
    expect(files?.clusterRuntime).not.toBe(user?.clusterRuntime);
  });

  it("answers 404 route-not-found when no route matches, without reaching later stages", async () => {
    const { app, later } = routed();
    await expectProblem(await send(app, "/nothing/here", {}, env), 404, "route-not-found");
    // The catch-all serves its own host only.
    await expectProblem(await send(app, "http://other.test/ordinary", {}, env), 404, "route-not-found");
    expect(later.calls).toBe(0);
  });

  it("answers 405 with Allow naming the route's methods, and the proxied ones for a method no route may take", async () => {
    const { app, later } = routed();
    const post = await send(app, "/users/1", { method: "POST", body: "x" }, env);
    await expectProblem(post, 405, "method-not-allowed");
    // A GET route serves HEAD too (RFC 9110 section 9.3.2).
    expect(post.headers.get("allow")).toBe("GET, HEAD, PUT");
    const propfind = await send(app, "/users/1", { method: "PROPFIND" }, env);
    await expectProblem(propfind, 405, "method-not-allowed");
    expect(propfind.headers.get("allow")).toBe("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    expect(later.calls).toBe(0);
  });

  it("never routes a spelling of the gateway's own namespace, even to a catch-all route", async () => {
    const { app, later } = routed();
    // The catch-all does take ordinary paths on its host.
    expect((await send(app, "http://any.stage.test/ordinary", {}, env)).status).toBe(200);
    for (const path of ["//__gateway/admin/config", "/%5F%5Fgateway/admin", "/__GATEWAY/admin/", "/a/../__Gateway", "/__gateway"]) {
      const problem = await expectProblem(await send(app, `http://any.stage.test${path}`, {}, env), 404, "route-not-found");
      expect(problem.detail).toContain("/__gateway");
    }
    expect(later.calls).toBe(1);
  });

  it("refuses a Host that is not one authority, or that disagrees with the URL, with 400 invalid-host", async () => {
    const { app, later } = routed();
    for (const host of ["stage.test, evil.test", "evil.test", "stage.test:99999"]) {
      const request = new Request(`http://stage.test/users/1`, { headers: { host } });
      await expectProblem(await app.fetch(request, env), 400, "invalid-host");
    }
    expect(later.calls).toBe(0);
  });

  it("refuses paths with encoded slashes, malformed escapes or NUL with 400 invalid-path", async () => {
    const { app, later } = routed();
    await expectProblem(await send(app, "/files/a%2Fb", {}, env), 400, "invalid-path");
    await expectProblem(await send(app, "/files/a%5cb", {}, env), 400, "invalid-path");
    await expectProblem(await send(app, "/files/a%zz", {}, env), 400, "invalid-path");
    await expectProblem(await send(app, "/files/a%00", {}, env), 400, "invalid-path");
    expect(later.calls).toBe(0);
  });
});
