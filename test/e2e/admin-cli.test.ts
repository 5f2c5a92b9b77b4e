/**
 * The edgegate CLI end to end against a running gateway (the deploy bundle on workerd): validate,
 * diff (field by field, and as JSON), publish, conflicting publishes, versions, rollback, configs
 * in YAML and on standard input, and the exit code of each outcome. This gateway applies
 * production validation, so loopback and metadata upstreams are refused.
 */
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { cli, configFiles } from "./cli-support.ts";

const url = inject("e2eGatewayUrl");
const token = inject("e2eAdminToken");
const { dir, write: configFile, writeText } = configFiles("edgegate-cli-");

function config(routes: string[], timeoutMs = 15_000) {
  return {
    clusters: { api: { targets: [{ url: "https://api.internal.example.com" }] } },
    routes: routes.map((id) => ({ id, match: { path: `/${id}/*` }, cluster: "api", timeoutMs })),
  };
}

async function adminJson(path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${url}/__gateway/admin${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<
    string,
    unknown
  >;
}

describe("edgegate CLI", () => {
  it("validates a file offline: exit 0 when valid, 1 with every problem's field path", async () => {
    const ok = await cli(["validate", configFile(config(["users"]))]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid (1 routes, 1 clusters)");
    const bad = await cli([
      "validate",
      configFile({ clusters: { api: { targets: [{ url: "ftp://x" }] } }, routes: [{ id: "a", match: { path: "/a" }, cluster: "nope" }] }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("clusters.api.targets[0].url: must use http or https");
    const missing = await cli(["validate", join(dir, "missing.json")]);
    expect(missing.code).toBe(2);
  });

  it("publishes, diffs against the deployed version, lists versions and rolls back", async () => {
    const first = await cli(["publish", configFile(config(["users"]))]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/\+ routes\[users\]/);
    const v1 = /published version (\S+)/.exec(first.stdout)?.[1] as string;

    const nextFile = configFile(config(["users", "orders"], 5_000));
    const diff = await cli(["diff", nextFile, "--exit-code"]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain(`2 changes against ${v1}`);
    expect(diff.stdout).toContain("~ routes[users].timeoutMs: 15000 -> 5000");
    expect(diff.stdout).toContain("+ routes[orders]");

    const second = await cli(["publish", nextFile]);
    expect(second.code, second.stderr).toBe(0);
    const v2 = /published version (\S+)/.exec(second.stdout)?.[1] as string;
    expect((await cli(["diff", nextFile, "--exit-code"])).code).toBe(0);
    expect((await cli(["publish", nextFile])).stdout).toContain("nothing to publish");

    const versions = await cli(["versions"]);
    expect(versions.code).toBe(0);
    expect(versions.stdout).toContain(`current: ${v2}`);
    expect(versions.stdout.indexOf(v2)).toBeLessThan(versions.stdout.lastIndexOf(v1));

    const back = await cli(["rollback", v1]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`rolled back to ${v1} (was ${v2})`);
    expect((await adminJson("/config")).version).toBe(v1);
    const got = await cli(["get"]);
    expect(JSON.parse(got.stdout)).toEqual(config(["users"]));
  });

  it("refuses, with exit 4, a publish over a version that is no longer current", async () => {
    await cli(["publish", configFile(config(["base"]))]);
    const current = String((await adminJson("/config")).version);
    await cli(["publish", configFile(config(["base", "theirs"]))]);
    const stale = await cli(["publish", configFile(config(["base", "mine"])), "--expect", current]);
    expect(stale.code).toBe(4);
    expect(stale.stderr).toContain("conflict");
    const now = (await adminJson("/config")) as { config: { routes: Array<{ id: string }> } };
    expect(now.config.routes.map((r) => r.id)).toEqual(["base", "theirs"]);
  });

  it("gets the gateway's own refusal for loopback and metadata upstreams, with field paths, exit 1, nothing published", async () => {
    const before = (await adminJson("/config")).version;
    const file = configFile({
      clusters: {
        loop: { targets: [{ url: "http://127.0.0.1:8080" }] },
        local: { targets: [{ url: "http://localhost/" }] },
        meta: { targets: [{ url: "http://169.254.169.254/latest/meta-data" }] },
        v6: { targets: [{ url: "http://[::1]:9000" }] },
      },
      routes: [{ id: "a", match: { path: "/a" }, cluster: "loop" }],
    });
    const run = await cli(["publish", file]);
    expect(run.code).toBe(1);
    for (const name of ["loop", "local", "meta", "v6"])
      expect(run.stderr).toContain(`clusters.${name}.targets[0].url: points at a loopback, link-local or private address`);
    expect((await adminJson("/config")).version).toBe(before);
    // The same through the API directly: 422 with the paths.
    const response = await fetch(`${url}/__gateway/admin/config/validate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ clusters: { meta: { targets: [{ url: "http://169.254.169.254/" }] } }, routes: [] }),
    });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { issues: Array<{ path: string }> }).issues[0]?.path).toBe("clusters.meta.targets[0].url");
  });

  it("exits 3 on a wrong token or an unreachable gateway, and 2 on a usage error", async () => {
    const wrong = await cli(["versions"], { EDGEGATE_ADMIN_TOKEN: "wrong" });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("refused the admin token");
    const away = await cli(["versions", "--url", "http://127.0.0.1:9"]);
    expect(away.code).toBe(3);
    expect(away.stderr).toContain("cannot reach");
    expect((await cli(["frobnicate"])).code).toBe(2);
  });

  it("diff shows each changed field with its value before and after, entries added and removed, and routes moved", async () => {
    const before = {
      clusters: {
        api: { targets: [{ url: "https://api.internal.example.com" }] },
        old: { targets: [{ url: "https://old.internal.example.com" }] },
      },
      routes: [
        { id: "users", match: { path: "/users/*" }, cluster: "api", timeoutMs: 15_000 },
        { id: "orders", match: { path: "/orders/*" }, cluster: "old" },
        { id: "health", match: { path: "/health" }, cluster: "api" },
      ],
    };
    const published = await cli(["publish", configFile(before), "--force"]);
    expect(published.code, published.stderr).toBe(0);
    const version = String((await adminJson("/config")).version);

    const after = {
      clusters: {
        api: { targets: [{ url: "https://api.internal.example.com", weight: 2 }] },
        fresh: { targets: [{ url: "https://fresh.internal.example.com" }] },
      },
      routes: [
        { id: "health", match: { path: "/health" }, cluster: "api" },
        { id: "users", match: { path: "/users/*" }, cluster: "api", timeoutMs: 2_000 },
        { id: "orders", match: { path: "/orders/*" }, cluster: "fresh" },
        { id: "reports", match: { path: "/reports/*" }, cluster: "api" },
      ],
    };
    const text = await cli(["diff", configFile(after)]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toBe("");
    expect(text.stdout.trimEnd().split("\n")).toEqual([
      `7 changes against ${version}:`,
      "  ~ routes[users].timeoutMs: 15000 -> 2000",
      '  ~ routes[orders].cluster: "old" -> "fresh"',
      "  + routes[reports]",
      "  ~ clusters.api.targets[0].weight: (none) -> 2",
      "  - clusters.old",
      "  + clusters.fresh",
      "  ~ routes[health] (position): 2 -> 0",
    ]);

    // --json: the diff's own structure, each change with the values of its fields (a missing side has none).
    const json = await cli(["diff", configFile(after), "--json", "--exit-code"]);
    expect(json.code).toBe(1);
    const document = JSON.parse(json.stdout) as { against: string; changes: Array<Record<string, unknown>> };
    expect(document.against).toBe(version);
    expect(document.changes).toEqual([
      { kind: "changed", entry: "routes[users]", fields: ["timeoutMs"], values: [{ field: "timeoutMs", before: 15_000, after: 2_000 }] },
      { kind: "changed", entry: "routes[orders]", fields: ["cluster"], values: [{ field: "cluster", before: "old", after: "fresh" }] },
      { kind: "added", entry: "routes[reports]", fields: [], values: [{ field: "", after: after.routes[3] }] },
      { kind: "changed", entry: "clusters.api", fields: ["targets[0].weight"], values: [{ field: "targets[0].weight", after: 2 }] },
      { kind: "removed", entry: "clusters.old", fields: [], values: [{ field: "", before: before.clusters.old }] },
      { kind: "added", entry: "clusters.fresh", fields: [], values: [{ field: "", after: after.clusters.fresh }] },
      {
        kind: "moved",
        entry: "routes (order)",
        fields: [],
        values: [{ field: "", before: ["users", "orders", "health"], after: ["health", "users", "orders"] }],
      },
    ]);
    // A side where the field is missing has no key at all, in JSON (not null).
    const weight = (document.changes[3] as { values: object[] }).values[0] as object;
    expect(Object.keys(weight)).toEqual(["field", "after"]);

    // The same file as YAML, and on standard input in both formats: the same diff.
    const yaml = stringify(after);
    expect((await cli(["diff", writeText("after.yaml", yaml)])).stdout).toBe(text.stdout);
    expect((await cli(["diff", writeText("after.yml", yaml)])).stdout).toBe(text.stdout);
    expect((await cli(["diff", "-"], {}, yaml)).stdout).toBe(text.stdout);
    expect((await cli(["diff", "-", "--json", "--exit-code"], {}, JSON.stringify(after))).stdout).toBe(json.stdout);
    // Nothing published yet shows as an empty gateway; equal documents as no changes.
    expect((await cli(["diff", "-"], {}, stringify(before))).stdout).toBe(`no changes against ${version}\n`);
  });

  it("validates and publishes YAML, from a file or standard input", async () => {
    const yaml = stringify(config(["yaml-a", "yaml-b"], 3_000));
    const valid = await cli(["validate", writeText("yaml-config.yaml", yaml)]);
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stdout).toContain("yaml-config.yaml: valid (2 routes, 1 clusters)");
    const piped = await cli(["validate", "-"], {}, yaml);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe("stdin: valid (2 routes, 1 clusters)\n");
    const invalid = await cli(["validate", "-"], {}, "clusters: {}\nroutes:\n  - id: a\n    match: {path: /a}\n    cluster: nope\n");
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("stdin: 1 problem");

    const published = await cli(["publish", "-", "--force"], {}, yaml);
    expect(published.code, published.stderr).toBe(0);
    expect(published.stdout).toMatch(/published version \S+/);
    expect(JSON.parse((await cli(["get"])).stdout)).toEqual(config(["yaml-a", "yaml-b"], 3_000));
  });
});
