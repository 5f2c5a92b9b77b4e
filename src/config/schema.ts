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
import { cacheIssues, cacheSchema } from "../lib/cache/config.ts";
import { clusterIssues, clusterSchema } from "../lib/cluster/config.ts";
import { coalesceIssues, coalesceSchema } from "../lib/coalesce/config.ts";
import {
  type ConfigIssue,
  type ConfigValidationOptions,
  described,
  durationMs,
  headerName,
  integer,
  NAME,
  NAME_RULE,
  name,
} from "../lib/config/fields.ts";
import { knownFields, unknownFieldMessage } from "../lib/config/unknown-field.ts";
import { idempotencyIssues, idempotencySchema } from "../lib/idempotency/config.ts";
import { mirrorIssues, mirrorSchema } from "../lib/mirror/config.ts";
import { observabilitySchema } from "../lib/observability/config.ts";
import { policiesSchema, policyInstanceIssues, policyListIssues, policyListsSchema } from "../lib/policies/config.ts";
import { rateLimitIssues, rateLimitsSchema } from "../lib/rate-limit/config.ts";
import { retrySchema } from "../lib/retry/config.ts";
import { matchSchema, rewriteIssues, rewriteSchema } from "../lib/routing/config.ts";
import { splitIssues, splitSchema } from "../lib/split/config.ts";
import { tracingIssues } from "../lib/tracing/config.ts";
import { websocketIssues, websocketSchema } from "../lib/websocket/config.ts";

function createSchema(options: ConfigValidationOptions) {
  const routeSchema = v.strictObject({
    id: described(name, "The route's unique name, in logs, metrics and the admin API."),
    match: described(matchSchema, "What requests the route takes: a path, and optionally methods and hosts."),
    cluster: described(name, "The cluster the route's requests go to, a key of clusters."),
    rewrite: v.optional(described(rewriteSchema, "How the path is changed for the upstream. Unset: forwarded as matched.")),
    timeoutMs: v.optional(
      described(durationMs(300_000), "Deadline for the upstream's response headers across all attempts, in milliseconds; then 504."),
      15_000,
    ),
    retry: v.optional(
      described(
        retrySchema,
        "Retries of idempotent requests without a body, on another target when the cluster has one; {} for the defaults. Unset: no retries.",
      ),
    ),
    requestHeaders: v.optional(
      described(
        v.strictObject({
          allow: described(
            v.array(headerName),
            "Only these request headers reach the upstream, plus Content-Type, Content-Length, Content-Encoding and the gateway's own.",
          ),
        }),
        "Which request headers are forwarded. Unset: all of them (hop-by-hop and the gateway's own aside).",
      ),
    ),
    maxBodyBytes: v.optional(
      described(
        integer(0, 2 ** 31),
        "Largest request body, in bytes: a larger one gets 413, from Content-Length before a byte is read, or while streaming. Unset: no gateway limit.",
      ),
    ),
    auth: v.optional(described(authSchema, "Who may call the route: JWTs of a provider, API keys, or both. Unset: anyone.")),
    split: v.optional(described(splitSchema, "Moves a share of the route's traffic to other clusters (canaries, migrations). Unset: off.")),
    mirror: v.optional(
      described(mirrorSchema, "Copies a share of requests to another cluster in the background; its answers are discarded. Unset: off."),
    ),
    idempotency: v.optional(
      described(
        idempotencySchema,
        "Idempotency-Key on POST and PATCH: the first answer is stored and replayed to duplicates; {} for the defaults. Unset: off.",
      ),
    ),
    coalesce: v.optional(
      described(coalesceSchema, "Identical in-flight GET and HEAD requests share one upstream call; {} for the defaults. Unset: off."),
    ),
    websocket: v.optional(
      described(
        websocketSchema,
        "Lets the route take WebSocket upgrades, with the gateway's message-size and idle limits; {} for the defaults. Unset: an upgrade is refused with 403.",
      ),
    ),
    cache: v.optional(
      described(
        cacheSchema,
        "A shared response cache for GET and HEAD on the Workers Cache API, with concurrent misses merged into one upstream call. Unset: off.",
      ),
    ),
    rateLimits: rateLimitsSchema,
    policies: v.optional(
      described(
        policyListsSchema,
        "The policies this route runs, by name from the top-level policies, in order. Unset: defaultPolicies. {} runs none.",
      ),
    ),
  });

  return v.pipe(
    v.strictObject(
      {
        // Editors read it to find this document's JSON Schema; the gateway ignores it.
        $schema: v.optional(
          described(
            v.string("must be a string"),
            "The JSON Schema of this document, for editors (schema/edgegate.schema.json); ignored by the gateway.",
          ),
        ),
        observability: v.optional(described(observabilitySchema(options), "Access-log sampling, Server-Timing, metrics and tracing."), {}),
        clusters: described(
          v.record(
            v.pipe(v.string(), v.regex(NAME, `cluster names ${NAME_RULE}`)),
            clusterSchema(options),
            "must be an object of clusters",
          ),
          "Upstream clusters by name: 1-64 letters, digits, '.', '_' or '-'.",
        ),
        routes: described(
          v.pipe(
            v.array(described(routeSchema, "One route: what it matches, where it goes, and its policies."), "must be an array"),
            v.maxLength(20_000, "must have at most 20000 routes"),
          ),
          "The routes, tried in order within a host: the first whose path and method fit wins.",
        ),
        policies: v.optional(
          described(
            policiesSchema,
            "Named policy instances (CORS, header edits, IP filters, maintenance answers, your own), for routes' policies lists.",
          ),
          {},
        ),
        defaultPolicies: v.optional(
          described(policyListsSchema, "The policies of every route without a policies list of its own. Unset: none."),
        ),
        jwtProviders: v.optional(
          described(
            v.record(
              v.pipe(v.string(), v.regex(NAME, `provider names ${NAME_RULE}`)),
              jwtProviderSchema(options),
              "must be an object of providers",
            ),
            "JWT issuers by name, for routes' auth.jwt.",
          ),
          {},
        ),
      },
      "must be an object",
    ),
    v.title("edgegate config"),
    v.description("The route config of an edgegate API gateway."),
  );
}

const strictSchema = createSchema({ allowPrivateUpstreams: false });
const devSchema = createSchema({ allowPrivateUpstreams: true });

/** The config's schema as a deployment checks it; the config's JSON Schema is generated from it (`npm run schema`). */
export function configSchema(options: ConfigValidationOptions) {
  return options.allowPrivateUpstreams ? devSchema : strictSchema;
}

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
function crossFieldIssues(config: GatewayConfig, options: ConfigValidationOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const deployment = options.deployment;
  policyInstanceIssues(config.policies, deployment, issues);
  tracingIssues(config.observability.tracing, deployment, issues);
  if (config.defaultPolicies) policyListIssues(config.defaultPolicies, config.policies, deployment, "defaultPolicies", issues);
  for (const [name, cluster] of Object.entries(config.clusters)) {
    if (cluster.breaker !== undefined)
      breakerIssues(cluster.breaker, (suffix) => formatPath(["clusters", name, "breaker"]) + suffix, issues);
    clusterIssues(cluster, options, (suffix) => formatPath(["clusters", name]) + suffix, issues);
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
    if (route.cache) cacheIssues(methods, at, issues);
    if (route.split) splitIssues(route.split, route, knownCluster, at, issues);
    if (route.mirror) mirrorIssues(route.mirror, route.cluster, knownCluster, at, issues);
    if (route.idempotency) idempotencyIssues(methods, at, issues);
    if (route.websocket) websocketIssues(route, at, issues);
    rateLimitIssues(route.rateLimits, route.auth, at, issues);
    if (route.rewrite) rewriteIssues(route.match.path, route.rewrite, at, issues);
    if (route.policies) policyListIssues(route.policies, config.policies, deployment, at(".policies"), issues);
  });
  return issues;
}

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

/**
 * The schema library's issue in the words users read. A strict object names only its first unknown
 * key, in its own words ("Expected never"), or, with a message of its own, in that message: every
 * unknown key of the object is named here, with the known field it most likely meant. A missing
 * field is "is required"; an array where an object belongs is named once.
 */
function schemaIssues(issue: v.BaseIssue<unknown>, schema: v.GenericSchema): ConfigIssue[] {
  const items = issue.path ?? [];
  const keys = items.map((item) => item.key as PropertyKey);
  const last = items.at(-1);
  if (issue.type !== "strict_object" || last === undefined || !("origin" in last) || last.origin !== "key") {
    return [{ path: formatPath(keys), message: issue.message }];
  }
  const parent = keys.slice(0, -1);
  // The schema library takes an array for an object, and would go on to name its missing fields.
  if (Array.isArray(last.input)) return [{ path: formatPath(parent), message: "must be an object, not an array" }];
  if (issue.expected !== "never") return [{ path: formatPath(keys), message: "is required" }];
  const known = knownFields(schema, parent);
  const unknown = known.length === 0 ? [String(last.key)] : Object.keys(last.input as object).filter((key) => !known.includes(key));
  // Skipped names have an issue of their own (skippedKeyIssues).
  return unknown
    .filter((key) => !SKIPPED_KEYS.has(key))
    .map((key) => ({ path: formatPath([...parent, key]), message: unknownFieldMessage(key, known) }));
}

/** Validates an untrusted config document; on failure every issue names its field path and reason. */
export function parseConfig(input: unknown, options: ConfigValidationOptions): ConfigParseResult {
  const schema = configSchema(options);
  const result = v.safeParse(schema, input, { abortEarly: false });
  // valibot's record() takes arrays for objects; a list of clusters is a common mistake worth naming.
  const clustersIsArray = typeof input === "object" && input !== null && Array.isArray((input as { clusters?: unknown }).clusters);
  const arrayIssue = clustersIsArray ? [{ path: "clusters", message: "must be an object of clusters keyed by name, not an array" }] : [];
  const skipped = skippedKeyIssues(input);
  if (!result.success || clustersIsArray || skipped.length > 0) {
    // Each issue once; a skipped name's only as skippedKeyIssues words it.
    const seen = new Set(skipped.map((issue) => issue.path));
    const issues: ConfigIssue[] = [...arrayIssue, ...skipped];
    for (const issue of (result.issues ?? []).flatMap((found) => schemaIssues(found, schema))) {
      const key = `${issue.path}\n${issue.message}`;
      if (seen.has(issue.path) || seen.has(key)) continue;
      seen.add(key);
      issues.push(issue);
    }
    return { ok: false, issues };
  }
  const issues = crossFieldIssues(result.output as GatewayConfig, options);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: result.output };
}
