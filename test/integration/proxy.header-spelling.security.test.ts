/**
 * Origins behind CGI, WSGI, PHP or Rack read header names folded: case-insensitive, with `_` and `-`
 * alike (both become HTTP_X_USER_ID). A client spelling of a header the gateway sets or strips must
 * therefore never reach the origin, or it would be read in place of (or next to) the gateway's own.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { authConfig, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { applyConfig, gateway, origin } from "../support.ts";

interface Echo {
  headers: Record<string, string>;
  rawHeaders: string[];
}

/** How a CGI-style origin names a header. */
const fold = (name: string) => name.toLowerCase().replaceAll("_", "-");

/** The raw field names the origin received. */
function rawNames(echo: Echo): string[] {
  return echo.rawHeaders.filter((_, i) => i % 2 === 0);
}

const set = `spelling-${crypto.randomUUID()}`;
let signer: Signer;

/** Underscore (and mixed) spellings of `name`, in several cases. */
function spellings(name: string): string[] {
  const parts = name.split("-");
  const out = new Set<string>([parts.join("_"), parts.join("_").toUpperCase()]);
  const title = parts.map((p) => (p[0] ?? "").toUpperCase() + p.slice(1));
  out.add(title.join("_"));
  // Every mix of `-` and `_` between the parts.
  for (let mask = 1; mask < 2 ** (parts.length - 1); mask++) {
    let spelled = parts[0] as string;
    for (let i = 1; i < parts.length; i++) spelled += (mask & (1 << (i - 1)) ? "_" : "-") + parts[i];
    out.add(spelled);
  }
  return [...out];
}

/** Names the gateway sets or strips on the authenticated route below. */
const OWNED = [
  "x-user-id",
  "x-tenant-id",
  "x-api-key",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-prefix",
  "x-real-ip",
  "x-request-id",
  "keep-alive",
  "proxy-authorization",
  "transfer-encoding",
];

beforeAll(async () => {
  signer = await newSigner("ES256");
  await publishKeys(set, [signer.publicJwk]);
});

describe("proxy: header spellings an origin folds together", () => {
  it("never forwards a client's underscore spelling of an identity, credential, forwarding or gateway header", async () => {
    await applyConfig(
      authConfig(set, { apiKey: {}, claimHeaders: { sub: "x-user-id", tenant: "x-tenant-id" } }, { jwks: { cooldownSec: 3600 } }),
    );
    const forged = OWNED.flatMap(spellings);
    const headers = new Headers({ authorization: `Bearer ${await signer.sign({ sub: "alice", tenant: "t1" })}`, "x-benign_name": "kept" });
    for (const name of forged) headers.append(name, "admin");
    const response = await gateway("/secure/x", { headers, clientIp: "198.51.100.23" });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    const names = rawNames(echo);
    // No field of an owned name in any spelling but the gateway's own, and each of those once.
    for (const name of OWNED) {
      const seen = names.filter((raw) => fold(raw) === name);
      expect(
        seen.every((raw) => raw.toLowerCase() === name),
        `${name}: ${seen.join(" ")}`,
      ).toBe(true);
      expect(seen.length).toBeLessThanOrEqual(1);
    }
    expect(echo.headers["x-user-id"]).toBe("alice");
    expect(echo.headers["x-tenant-id"]).toBe("t1");
    expect(echo.headers["x-forwarded-for"]).toBe("198.51.100.23");
    expect(JSON.stringify(echo.rawHeaders)).not.toContain("admin");
    // A name the gateway neither sets nor strips passes, underscore and all.
    expect(echo.headers["x-benign_name"]).toBe("kept");
  });

  it("strips the other spelling of a claim header configured with underscores", async () => {
    await applyConfig(authConfig(set, { claimHeaders: { sub: "x_subject" } }, { jwks: { cooldownSec: 3600 } }));
    const token = await signer.sign({ sub: "alice" });
    const response = await gateway("/secure/x", {
      headers: [
        ["authorization", `Bearer ${token}`],
        ["x-subject", "admin"],
        ["X-Subject", "admin"],
        ["X_SUBJECT", "admin"],
      ],
    });
    const echo = (await response.json()) as Echo;
    expect(rawNames(echo).filter((raw) => fold(raw) === "x-subject")).toEqual(["x_subject"]);
    expect(echo.headers.x_subject).toBe("alice");
  });

  it("strips underscore spellings of a credential header the route strips, and of Authorization's configured header", async () => {
    await applyConfig(authConfig(set, { token: { header: "x-access-token" } }, { jwks: { cooldownSec: 3600 } }));
    const token = await signer.sign();
    const response = await gateway("/secure/x", {
      headers: [
        ["x-access-token", token],
        ["x_access_token", token],
        ["X_Access-Token", token],
      ],
    });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(rawNames(echo).filter((raw) => fold(raw) === "x-access-token")).toEqual([]);
    expect(JSON.stringify(echo)).not.toContain(token.split(".")[2]);
  });

  it("strips them on a route without auth too: forwarding and gateway headers are always the gateway's", async () => {
    await applyConfig({
      clusters: { origin: { targets: [{ url: origin }] } },
      routes: [{ id: "all", match: { path: "/*" }, cluster: "origin" }],
    });
    const headers = new Headers();
    for (const name of ["x-forwarded-for", "x-real-ip", "x-request-id", "x-forwarded-host", "x-edgegate-mirror", "x-edgegate-next"].flatMap(
      spellings,
    ))
      headers.append(name, "10.0.0.1");
    const response = await gateway("/echo", { headers, clientIp: "198.51.100.23" });
    const echo = (await response.json()) as Echo;
    expect(rawNames(echo).filter((raw) => raw.includes("_"))).toEqual([]);
    expect(JSON.stringify(echo.rawHeaders)).not.toContain("10.0.0.1");
  });

  it("never forwards a client's field in the gateway's own X-Edgegate-* namespace, the mirror's marker among them", async () => {
    await applyConfig({
      clusters: { origin: { targets: [{ url: origin }] } },
      routes: [{ id: "all", match: { path: "/*" }, cluster: "origin" }],
    });
    for (const method of ["GET", "POST"]) {
      const response = await gateway("/echo", {
        method,
        ...(method === "POST" && { body: "x" }),
        headers: { "x-edgegate-mirror": "1", "X-Edgegate-Anything": "forged", x_edgegate_mirror: "1" },
      });
      const echo = (await response.json()) as Echo;
      expect(
        rawNames(echo)
          .map(fold)
          .filter((name) => name.startsWith("x-edgegate-")),
      ).toEqual([]);
    }
  });
});
