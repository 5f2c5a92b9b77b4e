/**
 * The gateway configuration schema: the single source of the config's TypeScript types. Everything
 * that reads a config (the Worker on load, the CLI and admin API on write) validates through
 * `parseConfig`, so a config is judged the same way everywhere.
 */
import * as v from "valibot";
import { isNonPublicHost } from "../lib/address.ts";
import { routePathParams, routePathProblem, wildcardBase } from "../lib/path.ts";

/** Options that change what a valid config is; they come from the deployment, never the config. */
export interface ConfigValidationOptions {
  /** Dev flag: accept loopback, link-local and private literal upstream addresses. */
  allowPrivateUpstreams: boolean;
}

/** Methods a route may name. TRACE and CONNECT are never proxied (RFC 9110 section 9.3.6, 9.3.8). */
export const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** Failures a retry policy may retry on. */
export const RETRY_ON = ["connect-failure", "timeout", "gateway-error", "5xx"] as const;

export const LOAD_BALANCING_POLICIES = ["weighted-round-robin", "least-in-flight"] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NAME_RULE = "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
const HOST_PATTERN = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** RFC 9110 section 5.1 field-name token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

const integer = (min: number, max: number) =>
  v.pipe(
    v.number("must be a number"),
    v.integer("must be an integer"),
    v.minValue(min, `must be >= ${min}`),
    v.maxValue(max, `must be <= ${max}`),
  );

const durationMs = (max: number) => integer(1, max);

/** Why an upstream URL is refused, or undefined when it is acceptable. */
function upstreamUrlProblem(raw: string, options: ConfigValidationOptions): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must use http or https";
  if (url.username || url.password) return "must not contain credentials";
  if (url.search || url.hash || raw.includes("?") || raw.includes("#")) return "must not contain a query or fragment";
  if (!options.allowPrivateUpstreams && isNonPublicHost(url.hostname)) {
    return "points at a loopback, link-local or private address; these are refused unless the deployment sets ALLOW_PRIVATE_UPSTREAMS=true (development only)";
  }
  return undefined;
}

function createSchema(options: ConfigValidationOptions) {
  const targetSchema = v.strictObject({
    url: v.pipe(
      v.string("must be a string"),
      v.rawCheck(({ dataset, addIssue }) => {
        const problem = dataset.typed ? upstreamUrlProblem(dataset.value, options) : undefined;
        if (problem) addIssue({ message: problem });
      }),
    ),
    weight: v.optional(integer(1, 1000), 1),
  });

  const clusterSchema = v.strictObject({
    targets: v.pipe(
      v.array(targetSchema, "must be an array"),
      v.minLength(1, "must have at least one target"),
      v.maxLength(64, "must have at most 64 targets"),
    ),
    loadBalancing: v.optional(
      v.picklist(LOAD_BALANCING_POLICIES, `must be one of: ${LOAD_BALANCING_POLICIES.join(", ")}`),
      "weighted-round-robin",
    ),
    /** Per attempt, until the upstream's response headers arrive. */
    connectTimeoutMs: v.optional(durationMs(300_000), 5_000),
    /** Per attempt, until the whole response body has been received; unset streams without limit. */
    responseTimeoutMs: v.optional(durationMs(3_600_000)),
  });

  const routePath = v.pipe(
    v.string("must be a string"),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? routePathProblem(dataset.value) : undefined;
      if (problem) addIssue({ message: problem });
    }),
  );

  const literalPath = v.pipe(
    v.string("must be a string"),
    v.regex(/^\/(?:[A-Za-z0-9\-._~!$&'()+,;=:@/]|%[0-9A-F]{2})*$/, "must be a path starting with '/' with no wildcard or parameters"),
  );

  const routeSchema = v.strictObject({
    id: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)),
    match: v.strictObject({
      path: routePath,
      methods: v.optional(
        v.pipe(v.array(v.picklist(ROUTE_METHODS, `must be one of: ${ROUTE_METHODS.join(", ")}`)), v.minLength(1, "must not be empty")),
      ),
      hosts: v.optional(
        v.pipe(
          v.array(
            v.pipe(
              v.string("must be a string"),
              v.toLowerCase(),
              v.regex(HOST_PATTERN, "must be a host name, optionally starting with '*.'"),
            ),
          ),
          v.minLength(1, "must not be empty"),
        ),
      ),
    }),
    cluster: v.pipe(v.string("must be a string"), v.regex(NAME, NAME_RULE)),
    rewrite: v.optional(
      v.strictObject({
        /** Removed from the start of the path (on a segment boundary) before forwarding. */
        stripPrefix: v.optional(literalPath),
        /** Prepended to the path (after stripPrefix) before forwarding. */
        prefix: v.optional(literalPath),
        /** Replaces the whole path; `:name` takes the route parameter, a trailing `/*` the wildcard tail. */
        path: v.optional(routePath),
      }),
    ),
    /** Deadline for the upstream's response headers, across all attempts. */
    timeoutMs: v.optional(durationMs(300_000), 15_000),
    retry: v.optional(
      v.strictObject({
        /** Retries after the first attempt. */
        attempts: v.optional(integer(0, 5), 1),
        on: v.optional(
          v.pipe(v.array(v.picklist(RETRY_ON, `must be one of: ${RETRY_ON.join(", ")}`)), v.minLength(1, "must not be empty")),
          ["connect-failure", "gateway-error"],
        ),
        budget: v.optional(
          v.strictObject({
            /** Retries allowed as a share of requests in the last 10 seconds. */
            ratio: v.optional(v.pipe(v.number("must be a number"), v.minValue(0, "must be >= 0"), v.maxValue(1, "must be <= 1")), 0.2),
            /** Retries always allowed per second, whatever the ratio says. */
            minPerSecond: v.optional(integer(0, 1000), 3),
          }),
          {},
        ),
        backoffMs: v.optional(
          v.strictObject({
            base: v.optional(integer(0, 10_000), 25),
            max: v.optional(integer(0, 60_000), 250),
          }),
          {},
        ),
      }),
    ),
    requestHeaders: v.optional(
      v.strictObject({
        /** Only these request headers (plus body framing and the gateway's own) reach the upstream. */
        allow: v.array(v.pipe(v.string("must be a string"), v.toLowerCase(), v.regex(HEADER_NAME, "must be a header field name"))),
      }),
    ),
    maxBodyBytes: v.optional(integer(0, 2 ** 31)),
  });

  return v.strictObject(
    {
      clusters: v.record(v.pipe(v.string(), v.regex(NAME, `cluster names ${NAME_RULE}`)), clusterSchema, "must be an object of clusters"),
      routes: v.pipe(v.array(routeSchema, "must be an array"), v.maxLength(20_000, "must have at most 20000 routes")),
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
export type ClusterConfig = GatewayConfig["clusters"][string];
export type RetryOn = (typeof RETRY_ON)[number];

/** One validation problem: where in the document (e.g. `routes[2].match.path`) and why. */
export interface ConfigIssue {
  path: string;
  message: string;
}

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

/** Checks that only make sense across fields: references, uniqueness, rewrite consistency. */
function crossFieldIssues(config: GatewayConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const ids = new Map<string, number>();
  config.routes.forEach((route, i) => {
    const at = (suffix: string) => `routes[${i}]${suffix}`;
    const seen = ids.get(route.id);
    if (seen !== undefined) issues.push({ path: at(".id"), message: `duplicates the id of routes[${seen}]` });
    else ids.set(route.id, i);
    if (!Object.hasOwn(config.clusters, route.cluster)) {
      issues.push({ path: at(".cluster"), message: `names cluster '${route.cluster}', which is not defined in clusters` });
    }
    const { rewrite } = route;
    if (!rewrite) return;
    if (rewrite.path !== undefined && (rewrite.stripPrefix !== undefined || rewrite.prefix !== undefined)) {
      issues.push({ path: at(".rewrite.path"), message: "cannot be combined with stripPrefix or prefix" });
    }
    if (rewrite.stripPrefix !== undefined) {
      const fixed = wildcardBase(route.match.path) ?? route.match.path;
      const strip = rewrite.stripPrefix.replace(/\/$/, "");
      const literal = fixed.split("/:")[0] ?? "";
      if (!(literal === strip || literal.startsWith(`${strip}/`) || strip === "")) {
        issues.push({
          path: at(".rewrite.stripPrefix"),
          message: `must be a leading segment-aligned part of the route path '${route.match.path}'`,
        });
      }
    }
    if (rewrite.path !== undefined) {
      const known = new Set(routePathParams(route.match.path));
      for (const name of routePathParams(rewrite.path)) {
        if (!known.has(name)) issues.push({ path: at(".rewrite.path"), message: `uses ':${name}', which the route path does not define` });
      }
      if (rewrite.path.endsWith("/*") && !route.match.path.endsWith("/*")) {
        issues.push({ path: at(".rewrite.path"), message: "uses '/*', but the route path has no wildcard" });
      }
    }
  });
  return issues;
}

/** Validates an untrusted config document; on failure every issue names its field path and reason. */
export function parseConfig(input: unknown, options: ConfigValidationOptions): ConfigParseResult {
  const schema = options.allowPrivateUpstreams ? devSchema : strictSchema;
  const result = v.safeParse(schema, input, { abortEarly: false });
  // valibot's record() takes arrays for objects; a list of clusters is a common mistake worth naming.
  const clustersIsArray = typeof input === "object" && input !== null && Array.isArray((input as { clusters?: unknown }).clusters);
  const arrayIssue = clustersIsArray ? [{ path: "clusters", message: "must be an object of clusters keyed by name, not an array" }] : [];
  if (!result.success || clustersIsArray) {
    return {
      ok: false,
      issues: arrayIssue.concat(
        (result.issues ?? []).map((issue) => ({
          path: formatPath((issue.path ?? []).map((item) => item.key as PropertyKey)),
          message: issue.message,
        })),
      ),
    };
  }
  const issues = crossFieldIssues(result.output as GatewayConfig);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: result.output };
}
