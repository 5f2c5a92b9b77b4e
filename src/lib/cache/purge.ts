/**
 * Purge rules: "every copy stored before `at` that matches" (a route, a path prefix within a
 * route or across routes, a tag the upstream set). The Cache API cannot list what it holds, so
 * copies are not found and deleted: each carries its route, path, tags and the time its upstream
 * call started, and a rule in force drops every copy it matches when that copy is next looked at.
 * Pure.
 */
import * as v from "valibot";
import { NAME } from "../config/fields.ts";

export interface PurgeRule {
  /** Epoch ms of the purge: copies whose upstream call started at or before it are dropped. */
  at: number;
  route?: string;
  /** A prefix of the normalized path and query. */
  prefix?: string;
  tag?: string;
}

/** What a purge request may say: at least one of a route, a prefix and a tag; all that are given must match. */
export const purgeRequestSchema = v.pipe(
  v.strictObject(
    {
      route: v.optional(v.pipe(v.string("must be a string"), v.regex(NAME, "must be a route id"))),
      prefix: v.optional(
        v.pipe(
          v.string("must be a string"),
          v.startsWith("/", "must be a path starting with '/'"),
          v.maxLength(512, "must be at most 512 characters"),
          v.regex(/^[\x21-\x7e]*$/, "must be a path of visible ASCII characters (percent-encode the rest)"),
        ),
      ),
      tag: v.optional(
        v.pipe(
          v.string("must be a string"),
          v.minLength(1, "must not be empty"),
          v.maxLength(256, "must be at most 256 characters"),
          v.check((tag) => tag === tag.trim() && !tag.includes(","), "must be one tag: no commas, no surrounding spaces"),
        ),
      ),
    },
    "must be an object",
  ),
  v.check(
    (body) => body.route !== undefined || body.prefix !== undefined || body.tag !== undefined,
    "must name a route, a prefix or a tag",
  ),
);

export type PurgeRequest = v.InferOutput<typeof purgeRequestSchema>;

/** What a rule looks at in a stored copy. */
export interface PurgeTarget {
  routeId: string;
  path: string;
  tags: readonly string[];
  storedAt: number;
}

/** True when `rule` drops `copy`. */
export function purges(rule: PurgeRule, copy: PurgeTarget): boolean {
  if (copy.storedAt > rule.at) return false;
  if (rule.route !== undefined && rule.route !== copy.routeId) return false;
  if (rule.prefix !== undefined && !copy.path.startsWith(rule.prefix)) return false;
  if (rule.tag !== undefined && !copy.tags.includes(rule.tag)) return false;
  return true;
}

/** A rule as read back from storage, or null when it is not one (a foreign or damaged entry is ignored). */
export function parsePurgeRule(value: unknown): PurgeRule | null {
  if (typeof value !== "object" || value === null) return null;
  const { at, route, prefix, tag } = value as Record<string, unknown>;
  if (typeof at !== "number" || !Number.isFinite(at)) return null;
  const rule: PurgeRule = { at };
  if (typeof route === "string") rule.route = route;
  if (typeof prefix === "string") rule.prefix = prefix;
  if (typeof tag === "string") rule.tag = tag;
  return rule.route === undefined && rule.prefix === undefined && rule.tag === undefined ? null : rule;
}
