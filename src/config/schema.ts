/**
 * The gateway configuration schema: the single source of the config's TypeScript types. Each
 * feature's fragment lives with the feature (src/lib/<feature>/config.ts); this file composes them
 * and runs the checks that span features. Everything that reads a config (the Worker on load, the
 * CLI and admin API on write) validates through `parseConfig`, so a config is judged the same way
 * everywhere.
 */
import * as v from "valibot";
import { authIssues, authSchema, jwtProviderSchema } from "../lib/auth/config.ts";
import { breakerIssues } from "../lib/breaker/config.ts";
import { clusterSchema } from "../lib/cluster/config.ts";
import { coalesceIssues, coalesceSchema } from "../lib/coalesce/config.ts";
import {
  type ConfigIssue,
  type ConfigValidationOptions,
  durationMs,
  headerName,
  integer,
  NAME,
  NAME_RULE,
  name,
} from "../lib/config/fields.ts";
import { idempotencyIssues, idempotencySchema } from "../lib/idempotency/config.ts";
import { mirrorIssues, mirrorSchema } from "../lib/mirror/config.ts";
import { observabilitySchema } from "../lib/observability/config.ts";
import { rateLimitIssues, rateLimitsSchema } from "../lib/rate-limit/config.ts";
import { retrySchema } from "../lib/retry/config.ts";
import { matchSchema, rewriteIssues, rewriteSchema } from "../lib/routing/config.ts";
import { splitIssues, splitSchema } from "../lib/split/config.ts";

function createSchema(options: ConfigValidationOptions) {
  const routeSchema = v.strictObject({
    id: name,
    match: matchSchema,
    cluster: name,
    rewrite: v.optional(rewriteSchema),
    /** Deadline for the upstream's response headers, across all attempts. */
    timeoutMs: v.optional(durationMs(300_000), 15_000),
    retry: v.optional(retrySchema),
    requestHeaders: v.optional(
      v.strictObject({
        /** Only these request headers (plus body framing and the gateway's own) reach the upstream. */
        allow: v.array(headerName),
      }),
    ),
    maxBodyBytes: v.optional(integer(0, 2 ** 31)),
    auth: v.optional(authSchema),
    /** Moves a share of the route's traffic to other clusters (canaries, migrations). */
    split: v.optional(splitSchema),
    /** Copies a share of requests to another cluster in the background; its answers are discarded. */
    mirror: v.optional(mirrorSchema),
    /** Idempotency-Key on POST and PATCH: the first answer is stored and replayed to duplicates. */
    idempotency: v.optional(idempotencySchema),
    /** Identical in-flight GET and HEAD requests share one upstream call. */
    coalesce: v.optional(coalesceSchema),
    /** Evaluated in order on every request; a request must pass all enforced policies. */
    rateLimits: rateLimitsSchema,
  });

  return v.strictObject(
    {
      observability: v.optional(observabilitySchema, {}),
      clusters: v.record(
        v.pipe(v.string(), v.regex(NAME, `cluster names ${NAME_RULE}`)),
        clusterSchema(options),
        "must be an object of clusters",
      ),
      routes: v.pipe(v.array(routeSchema, "must be an array"), v.maxLength(20_000, "must have at most 20000 routes")),
      jwtProviders: v.optional(
        v.record(
          v.pipe(v.string(), v.regex(NAME, `provider names ${NAME_RULE}`)),
          jwtProviderSchema(options),
          "must be an object of providers",
        ),
        {},
      ),
    },
    "must be an object",
  );
}

const strictSchema = createSchema({ allowPrivateUpstreams: false });
const devSchema = createSchema({ allowPrivateUpstreams: true });

/** A valid gateway config, with defaults applied. */
export type GatewayConfig = v.InferOutput<typeof strictSchema>;
/** What a user writes: defaults may be left out. */
export type GatewayConfigInput = v.InferInput<typeof strictSchema>;
export type RouteConfig = GatewayConfig["routes"][number];

export type ConfigParseResult = { ok: true; config: GatewayConfig } | { ok: false; issues: ConfigIssue[] };

function formatPath(keys: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of keys) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || "(root)";
}

/** Checks that only make sense across fields: references, uniqueness, each feature's own rules. */
function crossFieldIssues(config: GatewayConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, cluster] of Object.entries(config.clusters)) {
    if (cluster.breaker !== undefined)
      breakerIssues(cluster.breaker, (suffix) => formatPath(["clusters", name, "breaker"]) + suffix, issues);
  }
  const knownCluster = (name: string) => Object.hasOwn(config.clusters, name);
  const ids = new Map<string, number>();
  config.routes.forEach((route, i) => {
    const at = (suffix: string) => `routes[${i}]${suffix}`;
    const seen = ids.get(route.id);
    if (seen !== undefined) issues.push({ path: at(".id"), message: `duplicates the id of routes[${seen}]` });
    else ids.set(route.id, i);
    if (!knownCluster(route.cluster)) {
      issues.push({ path: at(".cluster"), message: `names cluster '${route.cluster}', which is not defined in clusters` });
    }
    const methods = route.match.methods;
    if (route.auth) authIssues(route.auth, config.jwtProviders, at, issues);
    if (route.coalesce) coalesceIssues(methods, at, issues);
    if (route.split) splitIssues(route.split, route, knownCluster, at, issues);
    if (route.mirror) mirrorIssues(route.mirror, route.cluster, knownCluster, at, issues);
    if (route.idempotency) idempotencyIssues(methods, at, issues);
    rateLimitIssues(route.rateLimits, route.auth, at, issues);
    if (route.rewrite) rewriteIssues(route.match.path, route.rewrite, at, issues);
  });
  return issues;
}

/** Validates an untrusted config document; on failure every issue names its field path and reason. */
/**
 * Keys the schema library passes over without a word (it guards against prototype pollution by
 * skipping them, even in strict objects): a cluster, provider, claim or field of one of these names
 * would vanish from the config while the document still showed it.
 */
const SKIPPED_KEYS: ReadonlySet<string> = new Set(["__proto__", "prototype", "constructor"]);

/** Where a value sits in the document: its key, and its parent's place (null at the root). */
interface Place {
  key: PropertyKey;
  parent: Place | null;
}

function placePath(place: Place | null): PropertyKey[] {
  const keys: PropertyKey[] = [];
  for (let at = place; at !== null; at = at.parent) keys.push(at.key);
  return keys.reverse();
}

/**
 * Every own key of `input`, at any depth, that the schema library would skip. Iterative, as
 * documents may nest deeply; a path is built only for a key it reports.
 */
function skippedKeyIssues(input: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const pending: Array<[value: unknown, place: Place | null]> = [[input, null]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [value, place] = item;
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) pending.push([value[i], { key: i, parent: place }]);
      continue;
    }
    for (const key of Object.keys(value)) {
      const here = { key, parent: place };
      if (SKIPPED_KEYS.has(key)) issues.push({ path: formatPath(placePath(here)), message: `'${key}' cannot be used as a name or field` });
      else pending.push([(value as Record<string, unknown>)[key], here]);
    }
  }
  return issues.reverse();
}

export function parseConfig(input: unknown, options: ConfigValidationOptions): ConfigParseResult {
  const schema = options.allowPrivateUpstreams ? devSchema : strictSchema;
  const result = v.safeParse(schema, input, { abortEarly: false });
  // valibot's record() takes arrays for objects; a list of clusters is a common mistake worth naming.
  const clustersIsArray = typeof input === "object" && input !== null && Array.isArray((input as { clusters?: unknown }).clusters);
  const arrayIssue = clustersIsArray ? [{ path: "clusters", message: "must be an object of clusters keyed by name, not an array" }] : [];
  const skipped = skippedKeyIssues(input);
  if (!result.success || clustersIsArray || skipped.length > 0) {
    return {
      ok: false,
      issues: [...arrayIssue, ...skipped].concat(
        (result.issues ?? [])
          .map((issue) => ({ path: formatPath((issue.path ?? []).map((item) => item.key as PropertyKey)), message: issue.message }))
          .filter((issue) => !skipped.some((named) => named.path === issue.path)),
      ),
    };
  }
  const issues = crossFieldIssues(result.output as GatewayConfig);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: result.output };
}
