/**
 * Coalescing decides on the request the upstream saw, not on the client's raw headers: the claim
 * headers the gateway adds, the forwarding headers it rewrites, the credentials it strips and the
 * per-request headers it sets. A caller must never get an answer made for a request its own would
 * not have been.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { AUDIENCE, ISSUER, identityProvider, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { burst, coalesceCounters, freshKey, freshRouteId } from "../coalesce-support.ts";
import { applyConfig, origin, originHits } from "../support.ts";

type RouteInput = GatewayConfigInput["routes"][number];

interface Echo {
  hit: number;
  headers: Record<string, string>;
}

const set = `coalesce-view-${crypto.randomUUID()}`;
let signer: Signer;
const tokens = new Map<string, string>();

/** A route to the origin's slow /coalesce endpoint, behind the test identity provider. */
async function route(id: string, coalesce: RouteInput["coalesce"], extra: Partial<RouteInput> = {}): Promise<void> {
  await applyConfig({
    clusters: { origin: { targets: [{ url: origin }] } },
    jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${set}`, jwks: { cooldownSec: 3600 } } },
    routes: [{ id, match: { path: "/coalesce" }, cluster: "origin", coalesce, ...extra }],
  });
}

const bearer = (user: string) => `Bearer ${tokens.get(user)}`;

/** Like burst, but request 0 goes first and leads: the others arrive while its call is out. */
async function ledBurst(n: number, path: string, init: (i: number) => RequestInit): Promise<Response[]> {
  const leader = burst(1, path, init);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const rest = burst(n - 1, path, (i) => init(i + 1));
  return [...(await leader), ...(await rest)];
}

async function bodies(responses: Response[]): Promise<Echo[]> {
  expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
  return (await Promise.all(responses.map((r) => r.json()))) as Echo[];
}

beforeAll(async () => {
  signer = await newSigner("ES256");
  await publishKeys(set, [signer.publicJwk]);
  for (const user of ["alice", "bob", "carol"]) tokens.set(user, await signer.sign({ sub: user, tenant: "acme" }));
});

describe("coalescing on a public route that forwards claims", () => {
  const users = ["alice", "bob", "carol"];
  const auth = { jwt: "idp", claimHeaders: { sub: "x-user-id" } };

  it.each([
    ["Vary: X-User-Id", "x-user-id"],
    ["Vary in upper case", "X-USER-ID"],
    ["Vary as a list", "Accept-Encoding,%20X-User-Id"],
    ["Vary with the underscore spelling", "x_user_id"],
    ["no Vary at all", null],
  ])("never serves one caller's answer to another (%s)", async (_, vary) => {
    await route(freshRouteId(), { public: true }, { auth });
    const key = freshKey();
    const path = `/coalesce?key=${key}&ms=300${vary === null ? "" : `&vary=${vary}`}`;
    const echoes = await bodies(await burst(30, path, (i) => ({ headers: { authorization: bearer(users[i % 3] as string) } })));
    echoes.forEach((echo, i) => {
      expect(echo.headers["x-user-id"]).toBe(users[i % 3]);
    });
    // One call per caller identity: still shared among the requests of one user.
    expect(await originHits(key)).toBe(3);
  });

  it("shares among callers whose forwarded claims are equal", async () => {
    await route(freshRouteId(), { public: true }, { auth: { jwt: "idp", claimHeaders: { tenant: "x-tenant" } } });
    const key = freshKey();
    const echoes = await bodies(
      await burst(30, `/coalesce?key=${key}&ms=300&vary=x-tenant`, (i) => ({ headers: { authorization: bearer(users[i % 3] as string) } })),
    );
    expect(echoes.every((echo) => echo.headers["x-tenant"] === "acme")).toBe(true);
    expect(await originHits(key)).toBe(1);
  });

  it("does not let a client's own copy of a claim header join another caller's call", async () => {
    await route(freshRouteId(), { public: true, varyHeaders: ["x-user-id"] }, { auth });
    const key = freshKey();
    // Alice's client happens to send her id too; bob's sends the same to join her call.
    const echoes = await bodies(
      await burst(20, `/coalesce?key=${key}&ms=300`, (i) => ({
        headers: [
          ["authorization", bearer(i % 2 === 0 ? "alice" : "bob")],
          ["x-user-id", "alice"],
        ],
      })),
    );
    echoes.forEach((echo, i) => {
      expect(echo.headers["x-user-id"]).toBe(i % 2 === 0 ? "alice" : "bob");
    });
    expect(await originHits(key)).toBe(2);
  });
});

describe("coalescing on headers the gateway rewrites", () => {
  const ips = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
  /** Three clients: the first as it is, the second sending nothing, the third claiming the first's address. */
  const client = (i: number) =>
    i % 3 === 0
      ? { clientIp: ips[0] }
      : i % 3 === 1
        ? { clientIp: ips[1] }
        : { clientIp: ips[2], headers: { "x-forwarded-for": ips[0] as string, "x-real-ip": ips[0] as string, forwarded: `for=${ips[0]}` } };

  it.each([
    ["X-Forwarded-For", "x-forwarded-for"],
    ["X-Real-IP", "x-real-ip"],
    ["Forwarded", "forwarded"],
    ["X_Forwarded_For", "x-forwarded-for"],
    ["Accept,%20x-real-ip", "x-real-ip"],
  ])("matches Vary: %s on the value the origin received, not on what the client sent", async (vary, header) => {
    await route(freshRouteId(), { public: true });
    const key = freshKey();
    const echoes = await bodies(await ledBurst(30, `/coalesce?key=${key}&ms=300&vary=${vary}`, client));
    const seen = echoes.map((echo) => echo.headers[header]);
    echoes.forEach((echo, i) => {
      // Every caller got an answer made for its own address.
      expect(echo.headers["x-forwarded-for"]).toBe(ips[i % 3]);
      expect(seen[i]).toBe(seen[i % 3]);
    });
    expect(new Set(seen).size).toBe(3);
    // Each client's callers never got another client's call.
    for (const group of [0, 1, 2]) {
      const hits = new Set(echoes.filter((_, i) => i % 3 === group).map((echo) => echo.hit));
      expect(echoes.some((echo, i) => i % 3 !== group && hits.has(echo.hit))).toBe(false);
    }
  });

  it("keys varyHeaders on the value the origin receives: nobody joins a call for another address", async () => {
    await route(freshRouteId(), { varyHeaders: ["x-forwarded-for"] });
    const key = freshKey();
    const echoes = await bodies(await ledBurst(30, `/coalesce?key=${key}&ms=300`, client));
    echoes.forEach((echo, i) => {
      expect(echo.headers["x-forwarded-for"]).toBe(ips[i % 3]);
    });
    expect(await originHits(key)).toBe(3);
  });

  it.each(["X-Request-Id", "traceparent", "X_Request_Id"])(
    "never shares an answer that varies on %s, which differs on every request",
    async (vary) => {
      const id = freshRouteId();
      await route(id, {});
      const key = freshKey();
      const echoes = await bodies(await burst(10, `/coalesce?key=${key}&ms=300&vary=${vary}`));
      expect(new Set(echoes.map((echo) => echo.hit)).size).toBe(10);
      expect(await originHits(key)).toBe(10);
      expect((await coalesceCounters(id))['coalesce_calls_total{outcome="unshareable"}']).toBeGreaterThanOrEqual(1);
    },
  );
});

describe("coalescing on headers the gateway strips", () => {
  it("shares an answer that varies on a credential the origin never received", async () => {
    await route(freshRouteId(), { public: true }, { auth: { jwt: "idp" } });
    const key = freshKey();
    const echoes = await bodies(
      await burst(9, `/coalesce?key=${key}&ms=300&vary=Authorization`, (i) => ({
        headers: { authorization: bearer(["alice", "bob", "carol"][i % 3] as string) },
      })),
    );
    expect(echoes.every((echo) => echo.headers.authorization === undefined)).toBe(true);
    expect(await originHits(key)).toBe(1);
  });

  it("matches Vary: Cookie on the cookies the origin received, without the credential cookie", async () => {
    await route(freshRouteId(), { public: true }, { auth: { jwt: "idp", token: { cookie: "session" } } });
    const key = freshKey();
    const theme = (i: number) => (i % 4 < 2 ? "dark" : "light");
    const echoes = await bodies(
      await burst(16, `/coalesce?key=${key}&ms=300&vary=Cookie`, (i) => ({
        headers: { cookie: `session=${tokens.get(["alice", "bob"][i % 2] as string)}; theme=${theme(i)}` },
      })),
    );
    echoes.forEach((echo, i) => {
      expect(echo.headers.cookie).toBe(`theme=${theme(i)}`);
    });
    // Whoever led, the callers of its theme shared its call, whatever their session; the others did not.
    const leaderTheme = theme(echoes.findIndex((echo) => echo.hit === 1));
    const shared = echoes.filter((_, i) => theme(i) === leaderTheme);
    expect(new Set(shared.map((echo) => echo.hit))).toEqual(new Set([1]));
    expect(echoes.filter((echo) => echo.hit === 1)).toHaveLength(8);
  });

  it("shares an answer that varies on a header outside requestHeaders.allow, which the origin never received", async () => {
    await route(freshRouteId(), {}, { requestHeaders: { allow: ["accept"] } });
    const key = freshKey();
    const echoes = await bodies(
      await burst(10, `/coalesce?key=${key}&ms=300&vary=X-Variant`, (i) => ({ headers: { "x-variant": String(i) } })),
    );
    expect(echoes.every((echo) => echo.headers["x-variant"] === undefined)).toBe(true);
    expect(await originHits(key)).toBe(1);
  });
});

describe("coalescing judged on the upstream's own answer headers", () => {
  it.each([
    ["Vary", "vary=accept-language&connection=vary", "per value"],
    ["Set-Cookie", "setCookie=1&connection=set-cookie", "never"],
    ["Cache-Control: private", "cacheControl=private&connection=cache-control", "never"],
  ])("an answer whose %s the upstream named in Connection still decides sharing", async (_, knobs, shared) => {
    await route(freshRouteId(), { public: true });
    const key = freshKey();
    const langs = ["en", "fr"];
    const responses = await ledBurst(10, `/coalesce?key=${key}&ms=300&${knobs}`, (i) => ({
      headers: { "accept-language": langs[i % 2] as string },
    }));
    const echoes = (await bodies(responses)) as Array<Echo & { lang: string }>;
    echoes.forEach((echo, i) => {
      expect(echo.lang).toBe(langs[i % 2]);
    });
    const hits = await originHits(key);
    // Never shared: every caller made its own call. Per value: at least one call per language.
    if (shared === "never") expect(hits).toBe(10);
    else expect(hits).toBeGreaterThanOrEqual(2);
  });
});
