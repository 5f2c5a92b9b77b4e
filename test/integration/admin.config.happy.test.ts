/**
 * The admin API's config lifecycle against real KV and the real publisher object: read, validate,
 * publish with the expected version, list, roll back, and single route and cluster edits, each a
 * new version the gateway then serves.
 */
import { describe, expect, it } from "vitest";
import { admin, currentVersion, taggedConfig, untilServing } from "../admin-support.ts";
import { gateway, origin } from "../support.ts";

async function publish(config: unknown): Promise<string> {
  const current = await currentVersion();
  const response = await admin("PUT", "/config", {
    body: config,
    headers: current === null ? { "if-none-match": "*" } : { "if-match": `"${current}"` },
  });
  expect(response.status).toBe(201);
  const body = (await response.json()) as { version: string; previous: string | null };
  expect(response.headers.get("etag")).toBe(`"${body.version}"`);
  expect(body.previous).toBe(current);
  await untilServing(body.version);
  return body.version;
}

describe("admin config API", () => {
  it("publishes a config as a new version that the gateway then serves, and reads it back", async () => {
    const tag = `a${crypto.randomUUID().slice(0, 6)}`;
    const version = await publish(taggedConfig(tag));
    expect((await gateway(`/${tag}/hello`)).status).toBe(200);

    const read = await admin("GET", "/config");
    expect(read.headers.get("etag")).toBe(`"${version}"`);
    expect(await read.json()).toEqual({ version, config: taggedConfig(tag) });
    const stored = await admin("GET", `/config/versions/${version}`);
    expect(((await stored.json()) as { config: unknown }).config).toEqual(taggedConfig(tag));
  });

  it("validates without publishing, and says what would change", async () => {
    const tag = `v${crypto.randomUUID().slice(0, 6)}`;
    const before = await publish(taggedConfig(tag));
    const next = taggedConfig(tag, {});
    (next.routes[0] as { timeoutMs?: number }).timeoutMs = 2_000;
    const response = await admin("POST", "/config/validate", { body: next });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      valid: true,
      routes: 1,
      clusters: 1,
      againstVersion: before,
      changes: [{ kind: "changed", entry: `routes[${tag}]`, fields: ["timeoutMs"] }],
      warnings: [],
    });
    expect(await currentVersion()).toBe(before);
  });

  it("lists versions newest first and rolls back to an earlier one, restoring its routing", async () => {
    const first = `r${crypto.randomUUID().slice(0, 6)}`;
    const second = `s${crypto.randomUUID().slice(0, 6)}`;
    const v1 = await publish(taggedConfig(first));
    const v2 = await publish(taggedConfig(second));
    expect((await gateway(`/${first}/x`)).status).toBe(404);

    const list = (await (await admin("GET", "/config/versions")).json()) as {
      current: string;
      versions: Array<{ version: string; action: string }>;
    };
    expect(list.current).toBe(v2);
    expect(list.versions.slice(0, 2).map((v) => v.version)).toEqual([v2, v1]);

    const back = await admin("POST", "/config/rollback", { body: { version: v1 }, headers: { "if-match": `"${v2}"` } });
    expect(back.status).toBe(200);
    expect(await back.json()).toEqual({ version: v1, previous: v2, warnings: [] });
    await untilServing(v1);
    expect((await gateway(`/${first}/x`)).status).toBe(200);
    expect((await gateway(`/${second}/x`)).status).toBe(404);
    const after = (await (await admin("GET", "/config/versions")).json()) as {
      versions: Array<{ version: string; action: string; detail: string }>;
    };
    expect(after.versions[0]).toMatchObject({ version: v1, action: "rollback", detail: v2 });
  });

  it("gets, puts and deletes one route or cluster, each a new version", async () => {
    const tag = `e${crypto.randomUUID().slice(0, 6)}`;
    const v1 = await publish(taggedConfig(tag));
    expect(((await (await admin("GET", `/config/routes/${tag}`)).json()) as { route: { id: string } }).route.id).toBe(tag);

    const added = await admin("PUT", "/config/routes/extra", {
      body: { match: { path: "/extra/*" }, cluster: "origin", rewrite: { stripPrefix: "/extra", prefix: "/echo" } },
    });
    expect(added.status).toBe(201);
    const addedBody = (await added.json()) as { version: string; previous: string; created: boolean };
    expect(addedBody).toMatchObject({ previous: v1, created: true, route: "extra" });
    await untilServing(addedBody.version);
    expect((await gateway("/extra/ping")).status).toBe(200);

    const cluster = await admin("PUT", "/config/clusters/spare", { body: { targets: [{ url: origin }] } });
    expect(cluster.status).toBe(201);
    const moved = await admin("PUT", "/config/routes/extra", { body: { match: { path: "/extra/*" }, cluster: "spare" } });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as { created: boolean }).created).toBe(false);

    const removed = await admin("DELETE", "/config/routes/extra");
    expect(removed.status).toBe(200);
    const removedVersion = ((await removed.json()) as { version: string }).version;
    await untilServing(removedVersion);
    expect((await gateway("/extra/ping")).status).toBe(404);
    expect((await admin("DELETE", "/config/clusters/spare")).status).toBe(200);
    const history = (await (await admin("GET", "/config/versions")).json()) as { versions: Array<{ detail: string | null }> };
    expect(history.versions.slice(0, 5).map((v) => v.detail)).toEqual([
      "delete cluster spare",
      "delete route extra",
      "put route extra",
      "put cluster spare",
      "put route extra",
    ]);
  });
});
