/**
 * The isolate's runtime: every mutable thing a compiled config version needs to serve requests
 * (upstream health and in-flight counts, balancers, retry budgets, rate limiters and their leases,
 * JWKS key sets, verified-token caches, the API-key cache, coalescing flight tables and pass lists).
 *
 * Compiled snapshots are plain data. When a version is installed, the runtime hands its state over
 * by stable key, once: a piece whose key the new version still has keeps its state, a new key
 * starts fresh, and a key the new version dropped is forgotten (requests still on the older version
 * keep the objects they started with). Each route's handles are resolved then, so a request
 * reaches them with one array read and no lookup by name.
 */

import type { CompiledRoute, Snapshot } from "../config/compile.ts";
import type { Bindings } from "../env.ts";
import type { CompiledJwtProvider } from "../lib/auth/config.ts";
import { type Balancer, LeastInFlight, WeightedRoundRobin } from "../lib/balancer.ts";
import type { CompiledCache } from "../lib/cache/config.ts";
import { CopyMemory } from "../lib/cache/memory.ts";
import type { CompiledCluster } from "../lib/cluster/config.ts";
import { FlightTable } from "../lib/coalesce/flights.ts";
import type { CoalesceOutcome } from "../lib/coalesce/outcome.ts";
import { ExpiringLru } from "../lib/expiring-lru.ts";
import type { Identity } from "../lib/identity.ts";
import { KeyedPool } from "../lib/keyed-pool.ts";
import type { CompiledRateLimit } from "../lib/rate-limit/config.ts";
import { RetryBudget } from "../lib/retry/budget.ts";
import { ApiKeyResolver } from "../services/api-keys/resolver.ts";
import { type ClusterHealth, ClusterHealthRegistry, type ClusterTracker } from "../services/breaker/cluster-health.ts";
import { PurgeLedger } from "../services/cache/purges.ts";
import { type JwksSource, type KeyEntry, RemoteKeySet } from "../services/jwks/key-set.ts";
import { platformJwksSource } from "../services/jwks/source.ts";
import { limiterFor, type PolicyLimiter } from "../services/rate-limit/limiter.ts";

/** Keys with a pass mark kept per route; the least recently used ones go first. */
const PASS_ENTRIES = 10_000;

/** API-key records (and known-bad keys) an isolate remembers. */
const API_KEY_ENTRIES = 10_000;

/** A cluster's runtime as one version sees it: its balancer, and its health (null without breaker or caps). */
export interface ClusterRuntime {
  balancer: Balancer;
  health: ClusterHealth | null;
}

/**
 * A rate-limit policy's limiter, bound to the deployment's backends on first use: bindings arrive
 * with requests, and the env object lives as long as the isolate.
 */
export class LimiterCell {
  readonly #policy: CompiledRateLimit;
  #limiter: PolicyLimiter | null = null;

  constructor(policy: CompiledRateLimit) {
    this.#policy = policy;
  }

  /** The policy's limiter, built on the first call. */
  bind(env: Bindings): PolicyLimiter {
    if (this.#limiter === null) this.#limiter = limiterFor(this.#policy, env);
    return this.#limiter;
  }
}

/** A coalescing route's calls in flight, and the keys whose last answer could not be shared (Varnish's hit-for-pass). */
export interface CoalesceState {
  flights: FlightTable<CoalesceOutcome>;
  pass: ExpiringLru<string, true>;
}

/**
 * A caching route's misses in flight (N concurrent misses for one key make one upstream call,
 * whether or not the route also coalesces), the isolate's purge rules (one ledger for all routes)
 * and the copies it holds in memory (one tier for all routes).
 */
export interface CacheState {
  flights: FlightTable<CoalesceOutcome>;
  purges: PurgeLedger;
  memory: CopyMemory;
}

/** Bytes of stored copies an isolate holds in memory, in front of the Cache API (of the isolate's 128 MB). */
export const ISOLATE_CACHE_BYTES = 16 * 1024 * 1024;

/** A token that passed verification, remembered until its exp (never longer). */
export interface VerifiedToken {
  /** Built once at verification: a cache hit hands it on as it is. */
  identity: Identity;
  /** The key that verified it: the cached result is dropped once the key is no longer published. */
  key: KeyEntry;
}

/** A JWT provider's keys, and the tokens it verified (by the token's SHA-256, until their exp). */
export interface JwtState {
  keySet: RemoteKeySet;
  tokenCache: ExpiringLru<string, VerifiedToken>;
}

/** One route's runtime handles in one installed version, side by side with its compiled data. */
export interface RouteRuntime {
  cluster: ClusterRuntime;
  /** By position in `route.split.sides`; empty without a split. */
  splitSides: readonly ClusterRuntime[];
  mirror: ClusterRuntime | null;
  retryBudget: RetryBudget | null;
  /** By position in `route.rateLimits`. */
  limiters: readonly LimiterCell[];
  coalesce: CoalesceState | null;
  /** Null on a route without `cache`. */
  cache: CacheState | null;
  /** The state of `route.auth.jwt`'s provider; null without one. */
  jwt: JwtState | null;
  /** The isolate's API-key cache; null on a route without `auth.apiKey`. */
  apiKeys: ApiKeyResolver | null;
}

/** A compiled version with its runtime handles: what requests are served with. */
export interface InstalledVersion {
  snapshot: Snapshot;
  /** By `CompiledRoute.index`. */
  routes: readonly RouteRuntime[];
}

export interface IsolateRuntimeOptions {
  now?: () => number;
  jwksSource?: JwksSource;
}

function balancerKey(cluster: CompiledCluster): string {
  return JSON.stringify([cluster.name, cluster.loadBalancing, cluster.targets.map((target) => target.key), cluster.weights]);
}

function newBalancer(cluster: CompiledCluster): Balancer {
  return cluster.loadBalancing === "least-in-flight" ? new LeastInFlight(cluster.weights) : new WeightedRoundRobin(cluster.weights);
}

/**
 * The counters live in the backend under the policy's prefix (which names the algorithm and
 * window); the limiter object is kept while nothing it was built from changes, so a publish that
 * leaves the policy alone keeps the isolate's leases.
 */
function limiterKey(policy: CompiledRateLimit): string {
  const { spec } = policy;
  return JSON.stringify([policy.prefix, policy.backend, policy.mode, spec.limit, spec.refill, policy.leaseSize, policy.timeoutMs]);
}

/** Everything a verification depends on: a publish that changes any of it must not let tokens verified under the old rules through. */
function tokenCacheKey(provider: CompiledJwtProvider): string {
  return JSON.stringify([
    provider.name,
    provider.jwksUri,
    provider.issuer,
    provider.audience,
    provider.algorithms,
    provider.requiredClaims,
    provider.clockToleranceSec,
    provider.typ ?? null,
    provider.maxTokenBytes,
    provider.tokenCacheSize,
  ]);
}

export class IsolateRuntime {
  readonly #now: () => number;
  readonly #jwksSource: JwksSource;
  readonly #balancers = new KeyedPool<Balancer>();
  readonly #budgets = new KeyedPool<RetryBudget>();
  readonly #limiters = new KeyedPool<LimiterCell>();
  readonly #coalesce = new KeyedPool<CoalesceState>();
  readonly #cacheFlights = new KeyedPool<FlightTable<CoalesceOutcome>>();
  /** Per deployment, not per config version: purges are kept in KV beside the config, not in it. */
  readonly cachePurges: PurgeLedger;
  /** Per isolate, not per config version: a copy's key names its route's cache settings. */
  readonly cacheMemory = new CopyMemory(ISOLATE_CACHE_BYTES);
  /** By JWKS URI alone: keys outlive config versions, so a publish never makes an isolate refetch a JWKS it still uses. */
  readonly #keySets = new KeyedPool<RemoteKeySet>();
  readonly #tokenCaches = new KeyedPool<ExpiringLru<string, VerifiedToken>>();
  /** By cluster name, as the cluster's breaker object is named. */
  readonly #health = new ClusterHealthRegistry();
  /** Per deployment, not per config version: key records live in KV beside the config, not in it. */
  readonly #apiKeys: ApiKeyResolver;

  constructor(options: IsolateRuntimeOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#jwksSource = options.jwksSource ?? platformJwksSource;
    this.#apiKeys = new ApiKeyResolver(API_KEY_ENTRIES, this.#now);
    this.cachePurges = new PurgeLedger(this.#now);
  }

  /** The installed version's health of cluster `name`, if it has any (admin reads). */
  clusterTracker(name: string): ClusterTracker | undefined {
    return this.#health.tracker(name);
  }

  /** Live pieces by kind, for tests and the admin view. */
  sizes(): Record<"balancers" | "budgets" | "limiters" | "coalesce" | "keySets" | "tokenCaches", number> {
    return {
      balancers: this.#balancers.size,
      budgets: this.#budgets.size,
      limiters: this.#limiters.size,
      coalesce: this.#coalesce.size,
      keySets: this.#keySets.size,
      tokenCaches: this.#tokenCaches.size,
    };
  }

  /** Hands the isolate's state over to `snapshot`, by key, once: call as the version is installed, before it serves. */
  install(snapshot: Snapshot): InstalledVersion {
    const health = this.#health;
    health.install(snapshot.clusters.values());
    const balancers = this.#balancers.handOver();
    const budgets = this.#budgets.handOver();
    const limiters = this.#limiters.handOver();
    const coalesce = this.#coalesce.handOver();
    const cacheFlights = this.#cacheFlights.handOver();
    const cacheState = (cache: CompiledCache): CacheState => ({
      flights: cacheFlights.take(cache.stateKey, () => new FlightTable(cache.maxWaiters)),
      purges: this.cachePurges,
      memory: this.cacheMemory,
    });
    const keySets = this.#keySets.handOver();
    const tokenCaches = this.#tokenCaches.handOver();
    const now = this.#now;
    const source = this.#jwksSource;

    // Install-time indexes only: each cluster and provider gets one runtime object per version.
    const clusters = new Map<CompiledCluster, ClusterRuntime>();
    const clusterRuntime = (cluster: CompiledCluster): ClusterRuntime => {
      let runtime = clusters.get(cluster);
      if (runtime === undefined) {
        runtime = { balancer: balancers.take(balancerKey(cluster), () => newBalancer(cluster)), health: health.healthFor(cluster) };
        clusters.set(cluster, runtime);
      }
      return runtime;
    };
    for (const cluster of snapshot.clusters.values()) clusterRuntime(cluster);
    const providers = new Map<CompiledJwtProvider, JwtState>();
    const jwtState = (provider: CompiledJwtProvider): JwtState => {
      let state = providers.get(provider);
      if (state === undefined) {
        state = {
          keySet: keySets.take(provider.jwksUri, () => new RemoteKeySet(provider.jwksUri, source)),
          tokenCache: tokenCaches.take(tokenCacheKey(provider), () => new ExpiringLru(provider.tokenCacheSize)),
        };
        providers.set(provider, state);
      }
      return state;
    };

    const routes = snapshot.routes.map((route: CompiledRoute): RouteRuntime => {
      const retry = route.retry;
      const policy = route.coalesce;
      const provider = route.auth?.jwt ?? null;
      return {
        cluster: clusterRuntime(route.cluster),
        splitSides: route.split === null ? [] : route.split.sides.map(clusterRuntime),
        mirror: route.mirror === null ? null : clusterRuntime(route.mirror.cluster),
        retryBudget:
          retry === null
            ? null
            : budgets.take(
                JSON.stringify([route.id, retry.budget.ratio, retry.budget.minPerSecond]),
                () => new RetryBudget(retry.budget, now),
              ),
        limiters: route.rateLimits.map((rateLimit) => limiters.take(limiterKey(rateLimit), () => new LimiterCell(rateLimit))),
        coalesce:
          policy === null
            ? null
            : coalesce.take(policy.stateKey, () => ({ flights: new FlightTable(policy.maxWaiters), pass: new ExpiringLru(PASS_ENTRIES) })),
        cache: route.cache === null ? null : cacheState(route.cache),
        jwt: provider === null ? null : jwtState(provider),
        apiKeys: route.auth?.apiKey ? this.#apiKeys : null,
      };
    });

    for (const handOver of [balancers, budgets, limiters, coalesce, cacheFlights, keySets, tokenCaches]) handOver.commit();
    return { snapshot, routes };
  }
}
