/**
 * A Worker that runs the gateway's JWT verification in a loop inside workerd, so the benchmark can
 * read the CPU cost of one verification off the workerd process (utime+stime around one request
 * doing thousands of them) without HTTP in the way. Keys and tokens are made in /prepare; the key
 * set is served from memory, as a warm isolate has it.
 *
 *   GET /prepare             make keys and token pools (once)
 *   GET /run?case=C&n=N      verify N tokens of case C: es256-full, rs256-full, es256-cache-hit, junk,
 *                            or es256-webcrypto (crypto.subtle.verify alone: the floor)
 *   GET /stage?auth=0|1&n=N  N requests through the real authenticate stage in a Hono app, on a
 *                            route without auth (0) or with a JWT whose verification is cached (1):
 *                            the difference is what the cached-token path adds to a request
 */

import { Hono } from "hono";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { compileConfig } from "../../src/config/compile.ts";
import { parseConfig } from "../../src/config/schema.ts";
import type { CompiledJwtProvider } from "../../src/lib/auth/config.ts";
import { ExpiringLru } from "../../src/lib/expiring-lru.ts";
import { newRequestRecord } from "../../src/lib/request-record.ts";
import { IsolateRuntime, type JwtState, type RouteRuntime } from "../../src/runtime/isolate-runtime.ts";
import { type JwksSource, RemoteKeySet } from "../../src/services/jwks/key-set.ts";
import { authenticate } from "../../src/stages/authenticate/index.ts";
import { verifyJwt } from "../../src/stages/authenticate/jwt.ts";
import type { AppEnv } from "../../src/variables.ts";

const ISSUER = "https://idp.bench/";
const AUDIENCE = "bench";
const POOL = 1_000;

/** A provider with its isolate state (key set, verified-token cache), as the runtime hands them to the stage. */
interface BenchProvider {
  provider: CompiledJwtProvider;
  state: JwtState;
}

interface Prepared {
  stage: { app: Hono<AppEnv>; token: string };
  providers: Record<string, BenchProvider>;
  pools: Record<string, string[]>;
  /** The floor: WebCrypto's ECDSA P-256 verify alone, on a pre-decoded signing input. */
  es256Subtle: { key: CryptoKey; data: Uint8Array<ArrayBuffer>; signature: Uint8Array<ArrayBuffer> };
}

let prepared: Prepared | undefined;

/** Serves `jwks` from memory, as a warm isolate has it. */
function memorySource(jwks: string): JwksSource {
  return {
    fetchRemote: async () => jwks,
    readShared: async () => undefined,
    writeShared: async () => {},
  };
}

function provider(jwks: string, alg: string, tokenCacheSize: number): BenchProvider {
  const jwksUri = `https://idp.bench/${alg}/${tokenCacheSize}`;
  const state: JwtState = {
    keySet: new RemoteKeySet(jwksUri, memorySource(jwks), Date.now, () => {}),
    tokenCache: new ExpiringLru(tokenCacheSize),
  };
  const compiled: CompiledJwtProvider = {
    name: alg,
    jwksUri,
    jwks: { cacheMaxAgeMs: 3_600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, timeoutMs: 1_000 },
    issuer: [ISSUER],
    audience: [AUDIENCE],
    algorithms: ["RS256", "ES256", "EdDSA"],
    requiredClaims: ["exp"],
    clockToleranceSec: 30,
    typ: undefined,
    maxTokenBytes: 8_192,
    tokenCacheSize,
  };
  return { provider: compiled, state };
}

async function prepare(): Promise<Prepared> {
  const providers: Record<string, BenchProvider> = {};
  let es256Jwks = "";
  const pools: Record<string, string[]> = {};
  let es256Subtle: Prepared["es256Subtle"] | undefined;
  for (const alg of ["ES256", "RS256"] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg);
    const kid = `${alg}-bench`;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, use: "sig" }] });
    const exp = Math.floor(Date.now() / 1000) + 3_600;
    const tokens: string[] = [];
    for (let i = 0; i < POOL; i++) {
      tokens.push(
        await new SignJWT({ sub: `user-${i}`, scope: "read write" })
          .setProtectedHeader({ alg, kid })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime(exp)
          .sign(privateKey),
      );
    }
    const key = alg.toLowerCase();
    providers[`${key}-full`] = provider(jwks, alg, 0);
    pools[`${key}-full`] = tokens;
    if (alg === "ES256") {
      const [header = "", payload = "", signature = ""] = (tokens[0] as string).split(".");
      es256Subtle = {
        key: publicKey,
        data: new Uint8Array(new TextEncoder().encode(`${header}.${payload}`)),
        signature: Uint8Array.from(atob(signature.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
      };
      es256Jwks = jwks;
      providers[`${key}-cache-hit`] = provider(jwks, alg, POOL);
      pools[`${key}-cache-hit`] = tokens.slice(0, 100);
    }
  }
  const es = pools["es256-full"]?.[0] ?? "";
  const [h = "", p = ""] = es.split(".");
  providers.junk = providers["es256-full"] as BenchProvider;
  // Each refused before any key lookup or signature check.
  pools.junk = [`${"a".repeat(64 * 1024)}.b.c`, "only.two", "ey$$.ey!!.sig", `${h}.${p}`, "eyJub3QganNvbg.eyJ9.c2ln"];
  if (!es256Subtle) throw new Error("no ES256 key");
  return { providers, pools, es256Subtle, stage: stageApp(es256Jwks, pools) };
}

/** A Hono app of the gateway's own stages up to the upstream call: route (fixed), authenticate, a 204. */
function stageApp(jwks: string, pools: Record<string, string[]>): Prepared["stage"] {
  const parsed = parseConfig(
    {
      clusters: { o: { targets: [{ url: "https://origin.bench.example" }] } },
      jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: "https://idp.bench.example/jwks" } },
      routes: [
        { id: "plain", match: { path: "/plain" }, cluster: "o" },
        { id: "jwt", match: { path: "/jwt" }, cluster: "o", auth: { jwt: "idp", claimHeaders: { sub: "x-user-id" } } },
      ],
    },
    { allowPrivateUpstreams: false },
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  // Installed as the snapshot cache installs a version; the key set serves the bench's keys from memory.
  const version = new IsolateRuntime({ jwksSource: memorySource(jwks) }).install(compileConfig(parsed.config, "bench"));
  const route = (path: string) => {
    const found = version.snapshot.table.lookup("gw", "GET", path);
    if (found.kind !== "matched") throw new Error(path);
    return { route: found.payload, runtime: version.routes[found.payload.index] as RouteRuntime };
  };
  const plain = route("/plain");
  const jwt = route("/jwt");
  const app = new Hono<AppEnv>();
  app.use((c, next) => {
    const served = c.req.path === "/jwt" ? jwt : plain;
    c.set("route", served.route);
    c.set("routeRuntime", served.runtime);
    // The record the observe stage opens in the gateway; the stage writes its decision there.
    c.set("record", newRequestRecord(c.req.method, Date.now()));
    return next();
  });
  app.use(authenticate);
  app.all("*", (c) => c.body(null, 204));
  return { app, token: pools["es256-cache-hit"]?.[0] as string };
}

export default {
  async fetch(request: Request, _env: unknown, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    prepared ??= await prepare();
    if (url.pathname === "/prepare") return Response.json({ ok: true });
    const name = url.searchParams.get("case") ?? "";
    const n = Number(url.searchParams.get("n") ?? 1_000);
    if (url.pathname === "/stage") {
      const { app, token } = prepared.stage;
      const target = url.searchParams.get("auth") === "1" ? "https://gw/jwt" : "https://gw/plain";
      let ok = 0;
      for (let i = 0; i < n; i++) {
        const response = await app.fetch(new Request(target, { headers: { authorization: `Bearer ${token}` } }), {}, ctx);
        if (response.status === 204) ok++;
      }
      return Response.json({ n, outcomes: { valid: ok } });
    }
    if (name === "es256-webcrypto") {
      const { key, data, signature } = prepared.es256Subtle;
      let valid = 0;
      for (let i = 0; i < n; i++) if (await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, data)) valid++;
      return Response.json({ case: name, n, outcomes: { valid } });
    }
    const target = prepared.providers[name];
    const pool = prepared.pools[name];
    if (!target || !pool) return Response.json({ error: `unknown case ${name}` }, { status: 404 });
    const waitUntil = (p: Promise<unknown>) => ctx.waitUntil(p);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const outcome = await verifyJwt(pool[i % pool.length] as string, target.provider, target.state, waitUntil);
      outcomes[outcome.kind] = (outcomes[outcome.kind] ?? 0) + 1;
    }
    return Response.json({ case: name, n, outcomes });
  },
};

// wrangler.jsonc binds these for every Worker it builds; this one never uses them.
export { ClusterBreaker } from "../../src/durable-objects/cluster-breaker.ts";
export { ConfigPublisher } from "../../src/durable-objects/config-publisher.ts";
export { IdempotencyStore } from "../../src/durable-objects/idempotency-store.ts";
export { RateLimiter } from "../../src/durable-objects/rate-limiter.ts";
