/**
 * Admin writes that must be refused: bad payloads with their field paths, missing or stale
 * preconditions, and concurrent publishes, of which exactly one wins and nothing is lost.
 */
import { describe, expect, it } from "vitest";
import { admin, currentVersion, taggedConfig, untilServing } from "../admin-support.ts";
import { expectProblem, gateway } from "../support.ts";

async function anyMatch(): Promise<Record<string, string>> {
  const version = await currentVersion();
  return version === null ? { "if-none-match": "*" } : { "if-match": `"${version}"` };
}

describe("admin config API: refusals", () => {
  it("refuses bad payloads with the field path and reason of each problem, and publishes nothing", async () => {
    await admin("PUT", "/config", { body: taggedConfig(`b${crypto.randomUUID().slice(0, 6)}`), headers: await anyMatch() });
    const before = await currentVersion();
    const bad = {
      clusters: {
        loop: { targets: [{ url: "http://127.0.0.1:8080" }] },
        meta: { targets: [{ url: "http://169.254.169.254/latest" }] },
        typed: { targets: [{ url: 42 }], connectTimeoutMs: "fast" },
      },
      routes: [
        { id: "crlf", match: { path: "/a/*" }, cluster: "loop", requestHeaders: { allow: ["x-ok", "x-bad\r\nx-injected: 1"] } },
        { id: "unknown-field", match: { path: "/b" }, cluster: "meta", surprise: true },
      ],
    };
    // This deployment allows private upstreams (its tests route to local origins): loopback and
    // metadata addresses are refused by the strict deployment in test/e2e/admin-cli.test.ts.
    const body = await expectProblem(await admin("PUT", "/config", { body: bad, headers: await anyMatch() }), 422, "invalid-config");
    const paths = (body.issues ?? []).map((issue) => issue.path);
    expect(paths).toContain("clusters.typed.targets[0].url");
    expect(paths).toContain("clusters.typed.connectTimeoutMs");
    expect(paths).toContain("routes[0].requestHeaders.allow[1]");
    expect(paths).toContain("routes[1].surprise");
    expect(body.issues?.find((i) => i.path === "routes[0].requestHeaders.allow[1]")?.message).toBe("must be a header field name");
    expect(await currentVersion()).toBe(before);

    const validate = await expectProblem(await admin("POST", "/config/validate", { body: bad }), 422, "invalid-config");
    expect(validate.issues?.length).toBe(body.issues?.length);
  });

  it("refuses a body that is not JSON, not declared as JSON, or not an object where one is needed", async () => {
    await expectProblem(await admin("PUT", "/config", { rawBody: "{not json", headers: { "if-match": "*" } }), 400, "bad-request");
    await expectProblem(
      await admin("PUT", "/config", { rawBody: "{}", headers: { "if-match": "*", "content-type": "text/plain" } }),
      415,
      "unsupported-media-type",
    );
    await expectProblem(await admin("PUT", "/config/routes/x", { body: [1, 2] }), 400, "bad-request");
    await expectProblem(
      await admin("POST", "/config/rollback", { body: { version: 7 }, headers: { "if-match": "*" } }),
      400,
      "bad-request",
    );
    await expectProblem(await admin("PUT", "/config", { body: {}, headers: { "if-match": "not-quoted" } }), 400, "bad-request");
  });

  it("needs a precondition for a whole-config write (428) and refuses a stale one (412) with the current version", async () => {
    const tag = `p${crypto.randomUUID().slice(0, 6)}`;
    await expectProblem(await admin("PUT", "/config", { body: taggedConfig(tag) }), 428, "precondition-required");
    const current = await currentVersion();
    const stale = await expectProblem(
      await admin("PUT", "/config", { body: taggedConfig(tag), headers: { "if-match": '"20000101T000000Z-00000000"' } }),
      412,
      "precondition-failed",
    );
    expect(stale.currentVersion).toBe(current);
    expect(await currentVersion()).toBe(current);
  });

  it("lets exactly one of two concurrent publishes over the same version win; the other gets 412 and nothing is lost", async () => {
    await admin("PUT", "/config", { body: taggedConfig(`c${crypto.randomUUID().slice(0, 6)}`), headers: await anyMatch() });
    const base = await currentVersion();
    const tags = Array.from({ length: 6 }, () => `k${crypto.randomUUID().slice(0, 6)}`);
    const responses = await Promise.all(
      tags.map((tag) => admin("PUT", "/config", { body: taggedConfig(tag), headers: { "if-match": `"${base}"` } })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(5);
    const winner = tags[statuses.indexOf(201)] as string;
    const version = ((await (responses[statuses.indexOf(201)] as Response).json()) as { version: string }).version;
    expect(await currentVersion()).toBe(version);
    await untilServing(version);
    expect((await gateway(`/${winner}/x`)).status).toBe(200);
  });

  it("does not lose an edit made between reading and writing: concurrent route edits each land or get 412", async () => {
    await admin("PUT", "/config", { body: taggedConfig(`d${crypto.randomUUID().slice(0, 6)}`), headers: await anyMatch() });
    const ids = ["one", "two", "three", "four"];
    const responses = await Promise.all(
      ids.map((id) => admin("PUT", `/config/routes/${id}`, { body: { match: { path: `/${id}` }, cluster: "origin" } })),
    );
    const landed = ids.filter((_, i) => (responses[i] as Response).status === 201);
    for (const response of responses) if (response.status !== 201) await expectProblem(response, 412, "precondition-failed");
    expect(landed.length).toBeGreaterThanOrEqual(1);
    const current = (await (await admin("GET", "/config")).json()) as { config: { routes: Array<{ id: string }> } };
    // Every edit that was answered 201 is in the config: none was overwritten by another.
    for (const id of landed) expect(current.config.routes.map((r) => r.id)).toContain(id);
  });

  it("answers 404 for unknown routes, clusters and versions, and 422 when a delete would leave a route without its cluster", async () => {
    await admin("PUT", "/config", { body: taggedConfig(`n${crypto.randomUUID().slice(0, 6)}`), headers: await anyMatch() });
    await expectProblem(await admin("GET", "/config/routes/nope"), 404, "not-found");
    await expectProblem(await admin("DELETE", "/config/routes/nope"), 404, "not-found");
    await expectProblem(await admin("GET", "/config/clusters/nope"), 404, "not-found");
    await expectProblem(await admin("GET", "/config/versions/nope"), 404, "not-found");
    await expectProblem(
      await admin("POST", "/config/rollback", { body: { version: "nope" }, headers: { "if-match": "*" } }),
      404,
      "not-found",
    );
    const orphan = await expectProblem(await admin("DELETE", "/config/clusters/origin"), 422, "invalid-config");
    expect(orphan.issues?.[0]?.path).toBe("routes[0].cluster");
  });

  it.each(["__proto__", "-dash", "a%20b", "x".repeat(65)])(
    "refuses a route or cluster edit named %s before anything is written",
    async (name) => {
      await admin("PUT", "/config", { body: taggedConfig(`p${crypto.randomUUID().slice(0, 6)}`), headers: await anyMatch() });
      const before = await currentVersion();
      const cluster = { targets: [{ url: "https://a.example" }] };
      await expectProblem(await admin("PUT", `/config/clusters/${name}`, { body: cluster }), 400, "bad-request");
      await expectProblem(await admin("DELETE", `/config/clusters/${name}`), 400, "bad-request");
      await expectProblem(
        await admin("PUT", `/config/routes/${name}`, { body: { match: { path: "/p" }, cluster: "origin" } }),
        400,
        "bad-request",
      );
      await expectProblem(await admin("DELETE", `/config/routes/${name}`), 400, "bad-request");
      expect(await currentVersion()).toBe(before);
    },
  );

  it.each(["constructor", "prototype"])("refuses a cluster named %s, which a config cannot hold, with its field path", async (name) => {
    await admin("PUT", "/config", { body: taggedConfig(`q${crypto.randomUUID().slice(0, 6)}`), headers: await anyMatch() });
    const before = await currentVersion();
    const refused = await expectProblem(
      await admin("PUT", `/config/clusters/${name}`, { body: { targets: [{ url: "https://a.example" }] } }),
      422,
      "invalid-config",
    );
    expect(refused.issues).toContainEqual({ path: `clusters.${name}`, message: `'${name}' cannot be used as a name or field` });
    expect(await currentVersion()).toBe(before);
  });
});
