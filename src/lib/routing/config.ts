/**
 * What a route matches (`match`: path, methods, hosts) and how its path is rewritten for the
 * upstream (`rewrite`): the schemas, the compile step of the rewrite and the checks across fields.
 */
import * as v from "valibot";
import { type ConfigIssue, checkedString, described, type IssueAt } from "../config/fields.ts";
import { isReservedPath, normalizePath, RESERVED_NAMESPACE, routePathParams, routePathProblem, wildcardBase } from "../path.ts";
import type { RouteParams } from "../route-table.ts";

/** Methods a route may name. TRACE and CONNECT are never proxied (RFC 9110 section 9.3.6, 9.3.8). */
export const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** A host name or `*.suffix` pattern, in either case (it is compared lower-cased). */
const HOST_PATTERN = /^(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

const routePath = checkedString(routePathProblem);

export const matchSchema = v.strictObject({
  /** A route's own path: it may not claim the gateway's namespace (a rewrite's upstream path may). */
  path: described(
    v.pipe(
      routePath,
      v.rawCheck(({ dataset, addIssue }) => {
        if (dataset.typed && isReservedPath(dataset.value)) {
          addIssue({ message: `is in the gateway's own namespace (${RESERVED_NAMESPACE}), which is never proxied` });
        }
      }),
    ),
    "The path the route matches: exact (/health), with parameters (/users/:id), or with a trailing wildcard (/api/*, which also matches /api). In normalized form; a trailing slash is significant.",
  ),
  methods: v.optional(
    described(
      v.pipe(v.array(v.picklist(ROUTE_METHODS, `must be one of: ${ROUTE_METHODS.join(", ")}`)), v.minLength(1, "must not be empty")),
      "Methods the route serves; a route with GET also serves HEAD. Unset: any method.",
    ),
  ),
  hosts: v.optional(
    described(
      v.pipe(
        v.array(
          v.pipe(
            v.string("must be a string"),
            v.regex(HOST_PATTERN, "must be a host name, optionally starting with '*.'"),
            v.toLowerCase(),
          ),
        ),
        v.minLength(1, "must not be empty"),
      ),
      "Host names or *.suffix patterns the route serves, compared without the port and case-insensitively. Unset: any host.",
    ),
  ),
});

/**
 * A literal path of a rewrite (stripPrefix, prefix): in normalized form, as a request path is once
 * the router has it, so the path an upstream resolves is the one the router and the exposure check
 * saw (a prefix of "/.." or "/%2E%2E" would step out of it).
 */
const literalPath = v.pipe(
  v.string("must be a string"),
  v.regex(/^\/(?:[A-Za-z0-9\-._~!$&'()+,;=:@/]|%[0-9A-F]{2})*$/, "must be a path starting with '/' with no wildcard or parameters"),
  v.check((path) => {
    const normalized = normalizePath(path);
    return normalized.ok && normalized.path === path;
  }, "must be in normalized form: no '.' or '..' segments (in any spelling), no '//', no escapes of unreserved characters"),
);

export const rewriteSchema = v.strictObject({
  stripPrefix: v.optional(described(literalPath, "Removed from the start of the path, on a segment boundary, before forwarding.")),
  prefix: v.optional(
    described(literalPath, "Prepended to the path (after stripPrefix) before forwarding; together they replace a prefix."),
  ),
  path: v.optional(
    described(
      routePath,
      "Replaces the whole path: :name takes the route's parameter, a trailing /* the wildcard's tail. Not combinable with stripPrefix or prefix.",
    ),
  ),
});

export type MatchConfig = v.InferOutput<typeof matchSchema>;
export type RewriteConfig = v.InferOutput<typeof rewriteSchema>;

/** Maps the normalized request path (and route params) to the path sent upstream. */
export type UpstreamPath = (path: string, params: RouteParams) => string;

/** The part of `path` after a wildcard route's fixed prefix, without its leading slash. */
function wildcardTail(path: string, base: string): string {
  return path.length > base.length + 1 ? path.slice(base.length + 1) : "";
}

export function compileRewrite(matchPath: string, rewrite: RewriteConfig | undefined): UpstreamPath {
  if (!rewrite) return (path) => path;
  if (rewrite.path !== undefined) {
    const template = rewrite.path;
    const routeBase = wildcardBase(matchPath);
    const templateBase = wildcardBase(template) ?? template;
    const parts = templateBase.split("/");
    return (path, params) => {
      let out = parts.map((segment) => (segment.startsWith(":") ? (params[segment.slice(1)] ?? "") : segment)).join("/");
      if (template.endsWith("/*") && routeBase !== undefined) {
        const tail = wildcardTail(path, routeBase);
        out = `${out}/${tail}`;
      }
      return out === "" ? "/" : out;
    };
  }
  const strip = (rewrite.stripPrefix ?? "").replace(/\/$/, "");
  const prefix = (rewrite.prefix ?? "").replace(/\/$/, "");
  return (path) => {
    const rest = strip !== "" && (path === strip || path.startsWith(`${strip}/`)) ? path.slice(strip.length) : path;
    const out = prefix + rest;
    return out === "" ? "/" : out.startsWith("/") ? out : `/${out}`;
  };
}

/** Checks of a rewrite against the route's own path: one way of rewriting, and parts the path has. */
export function rewriteIssues(matchPath: string, rewrite: RewriteConfig, at: IssueAt, issues: ConfigIssue[]): void {
  if (rewrite.path !== undefined && (rewrite.stripPrefix !== undefined || rewrite.prefix !== undefined)) {
    issues.push({ path: at(".rewrite.path"), message: "cannot be combined with stripPrefix or prefix" });
  }
  if (rewrite.stripPrefix !== undefined) {
    const fixed = wildcardBase(matchPath) ?? matchPath;
    const strip = rewrite.stripPrefix.replace(/\/$/, "");
    const literal = fixed.split("/:")[0] ?? "";
    if (!(literal === strip || literal.startsWith(`${strip}/`) || strip === "")) {
      issues.push({
        path: at(".rewrite.stripPrefix"),
        message: `must be a leading segment-aligned part of the route path '${matchPath}'`,
      });
    }
  }
  if (rewrite.path !== undefined) {
    const known = new Set(routePathParams(matchPath));
    for (const name of routePathParams(rewrite.path)) {
      if (!known.has(name)) issues.push({ path: at(".rewrite.path"), message: `uses ':${name}', which the route path does not define` });
    }
    if (rewrite.path.endsWith("/*") && !matchPath.endsWith("/*")) {
      issues.push({ path: at(".rewrite.path"), message: "uses '/*', but the route path has no wildcard" });
    }
  }
}
