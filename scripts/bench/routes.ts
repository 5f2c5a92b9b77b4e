/**
 * Benchmark configs: `n` routes of a realistic mix (static, parameter and wildcard paths, a few
 * method-restricted), all on one cluster, plus the sample request paths that hit them.
 */
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { AUDIENCE, ISSUER } from "./identity.ts";

type BenchRoute = GatewayConfigInput["routes"][number];

/** What the benchmarked route adds: authentication (against the given JWT providers), rate limits, a breaker on its cluster. */
export interface BenchRouteExtras {
  auth?: { route: NonNullable<BenchRoute["auth"]>; jwtProviders: NonNullable<GatewayConfigInput["jwtProviders"]> };
  rateLimits?: BenchRoute["rateLimits"];
  breaker?: GatewayConfigInput["clusters"][string]["breaker"];
  cache?: BenchRoute["cache"];
}

/** `n` routes; the benchmarked one with the given extras. */
export function benchRoutes(n: number, originUrl: string, extras: BenchRouteExtras = {}): GatewayConfigInput {
  const { auth, rateLimits, breaker, cache } = extras;
  const routes: GatewayConfigInput["routes"] = [];
  for (let i = 0; i < n - 1; i++) {
    const kind = i % 4;
    const path =
      kind === 0 ? `/svc${i}/items/:id` : kind === 1 ? `/svc${i}/health` : kind === 2 ? `/svc${i}/*` : `/svc${i}/users/:user/orders/:order`;
    routes.push({ id: `r${i}`, match: { path, ...(i % 5 === 0 ? { methods: ["GET", "POST"] as const } : {}) }, cluster: "origin" });
  }
  // The route the HTTP benchmark calls comes last in config order: the worst case for any matcher
  // that walks routes in order.
  routes.push({
    id: "bench",
    match: { path: "/bench/*" },
    cluster: "origin",
    rewrite: { stripPrefix: "/bench" },
    ...(auth ? { auth: auth.route } : {}),
    ...(rateLimits ? { rateLimits } : {}),
    ...(cache ? { cache } : {}),
  });
  return {
    clusters: { origin: { targets: [{ url: originUrl }], ...(breaker ? { breaker } : {}) } },
    routes: routes as GatewayConfigInput["routes"],
    ...(auth ? { jwtProviders: auth.jwtProviders } : {}),
  };
}

/** JWT authentication against the bench identity provider, whose JWKS the origin serves; the `sub` claim forwarded. */
export function benchJwtAuth(originUrl: string, tokenCacheSize: number): NonNullable<BenchRouteExtras["auth"]> {
  return {
    route: { jwt: "bench-idp", claimHeaders: { sub: "x-user-id" } },
    jwtProviders: {
      "bench-idp": { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${originUrl}/jwks.json`, algorithms: ["ES256"], tokenCacheSize },
    },
  };
}

/** A limit far above what one core serves: every request is counted, none refused. */
export function benchLimit(
  backend: "durable-object" | "upstash",
  mode: "exact" | "local-first",
  key: "ip" | "subject" = "ip",
): NonNullable<BenchRoute["rateLimits"]>[number] {
  return {
    id: "bench",
    limit: 1_000_000_000,
    windowSec: 3600,
    key: [key],
    backend,
    mode,
    ...(mode === "local-first" ? { leaseSize: 1_000 } : {}),
  };
}

/**
 * The full chain: 1,000 routes, JWT (verified-token cache on), a local-first limit per subject on
 * the Durable Object backend, the `sub` claim forwarded, and a breaker with default settings.
 */
export function fullChainRoutes(originUrl: string): GatewayConfigInput {
  return benchRoutes(1_000, originUrl, {
    auth: benchJwtAuth(originUrl, 10_000),
    rateLimits: [benchLimit("durable-object", "local-first", "subject")],
    breaker: {},
  });
}

/** Request paths for `n` routes: mostly hits spread over the table, one in ten a miss. */
export function samplePaths(n: number, count: number): string[] {
  const paths: string[] = [];
  for (let k = 0; k < count; k++) {
    const i = Math.floor((k * 7919) % Math.max(1, n - 1));
    if (k % 10 === 9) paths.push(`/missing${k}/nothing`);
    else if (k % 10 === 8) paths.push("/bench/hello");
    else {
      const kind = i % 4;
      paths.push(
        kind === 0
          ? `/svc${i}/items/${k}`
          : kind === 1
            ? `/svc${i}/health`
            : kind === 2
              ? `/svc${i}/a/b`
              : `/svc${i}/users/u${k}/orders/${k}`,
      );
    }
  }
  return paths;
}
