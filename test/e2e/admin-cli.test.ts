/**
 * The edgegate CLI end to end against a running gateway (the deploy bundle on workerd): validate,
 * diff, publish, conflicting publishes, versions, rollback, and the exit code of each outcome.
 * This gateway applies production validation, so loopback and metadata upstreams are refused.
 */
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { cli, configFiles } from "./cli-support.ts";

const url = inject("e2eGatewayUrl");
const token = inject("e2eAdminToken");
const { dir, write: configFile } = configFiles("edgegate-cli-");

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
    expect(diff.stdout).toContain("~ routes[users]: timeoutMs");
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
});
