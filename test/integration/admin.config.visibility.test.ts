/**
 * A write through the admin API (a publish, a route edit, a rollback) is served by the isolate
 * that carried it out from its very next request: first with the test Worker's settings, then
 * with a refresh interval of an hour, where no check of KV can stand in for it.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { ADMIN_TOKEN, admin, currentVersion, taggedConfig } from "../admin-support.ts";
import { gateway } from "../support.ts";

function precondition(version: string | null): Record<string, string> {
  return version === null ? { "if-none-match": "*" } : { "if-match": `"${version}"` };
}

describe("a write through the admin API, with the test Worker's settings", () => {
  it("is served by the next request: a publish, a route edit and a rollback", async () => {
    const tag = `n${crypto.randomUUID().slice(0, 6)}`;
    const before = await currentVersion();
    const put = await admin("PUT", "/config", { body: taggedConfig(tag), headers: precondition(before) });
    expect(put.status).toBe(201);
    const { version } = (await put.json()) as { version: string };
    expect((await gateway(`/${tag}/x`)).status).toBe(200);

    const edit = await admin("PUT", "/config/routes/edited", {
      body: { match: { path: `/${tag}-edited/*` }, cluster: "origin", rewrite: { stripPrefix: `/${tag}-edited`, prefix: "/echo" } },
    });
    expect(edit.status).toBe(201);
    expect((await gateway(`/${tag}-edited/x`)).status).toBe(200);

    const back = await admin("POST", "/config/rollback", { body: { version }, headers: { "if-match": "*" } });
    expect(back.status).toBe(200);
    expect((await gateway(`/${tag}-edited/x`)).status).toBe(404);
    expect((await gateway(`/${tag}/x`)).status).toBe(200);
  });
});

/** The test Worker with a refresh interval of an hour: every request made here shares it. */
const hourly = { ...env, CONFIG_REFRESH_INTERVAL_MS: String(60 * 60 * 1000) };

/** A request to the Worker with `hourly`; the body is read and background work awaited. */
async function call(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers = new Headers({ "cf-connecting-ip": "203.0.113.7", ...init.headers });
  if (path.startsWith("/__gateway/admin")) headers.set("authorization", `Bearer ${ADMIN_TOKEN}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://gateway.test${path}`, {
      method: init.method ?? "GET",
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    }),
    hourly,
    ctx,
  );
  const text = await response.text();
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function served(): Promise<string | null> {
  return ((await call("/__gateway/health")).body.config as { version: string | null }).version;
}

describe("a write through the admin API, with a refresh interval of an hour", () => {
  it("is served by the next request, with no check of KV between them", async () => {
    const tag = `h${crypto.randomUUID().slice(0, 6)}`;
    // Loads whatever is current (a cold isolate reads KV once); after that, checks are an hour apart.
    await served();
    const current = (await call("/__gateway/admin/config")).body.version as string | undefined;

    const put = await call("/__gateway/admin/config", { method: "PUT", body: taggedConfig(tag), headers: precondition(current ?? null) });
    expect(put.status).toBe(201);
    const first = put.body.version as string;
    expect(await served()).toBe(first);
    expect((await call(`/${tag}/x`)).status).toBe(200);

    const edit = await call("/__gateway/admin/config/routes/edited", {
      method: "PUT",
      body: { match: { path: `/${tag}-edited/*` }, cluster: "origin", rewrite: { stripPrefix: `/${tag}-edited`, prefix: "/echo" } },
    });
    expect(edit.status).toBe(201);
    expect(await served()).toBe(edit.body.version);
    expect((await call(`/${tag}-edited/x`)).status).toBe(200);

    const back = await call("/__gateway/admin/config/rollback", { method: "POST", body: { version: first }, headers: { "if-match": "*" } });
    expect(back.status).toBe(200);
    expect(await served()).toBe(first);
    expect((await call(`/${tag}-edited/x`)).status).toBe(404);
    expect((await call(`/${tag}/x`)).status).toBe(200);
  });
});
