/**
 * A route's `idempotency` block (Idempotency-Key on POST and PATCH): the schema, the compiled form,
 * the compile step and its check. The rules for one key's record are in record.ts.
 */
import * as v from "valibot";
import { type ConfigIssue, described, type IssueAt, integer } from "../config/fields.ts";
import { metricKey } from "../metrics.ts";

export const idempotencySchema = v.strictObject({
  ttlSec: v.optional(described(integer(1, 7 * 86_400), "How long a key's answer is kept and replayed, in seconds."), 86_400),
  maxRequestBytes: v.optional(
    described(integer(0, 16 * 1024 * 1024), "Request bodies are read to fingerprint them: larger ones, in bytes, are refused with 413."),
    1024 * 1024,
  ),
  maxResponseBytes: v.optional(
    described(
      integer(0, 16 * 1024 * 1024),
      "Answers with a larger body, in bytes, are not stored: the key is released when the first request ends.",
    ),
    1024 * 1024,
  ),
  required: v.optional(described(v.boolean("must be true or false"), "Refuse (400) a POST or PATCH without an Idempotency-Key."), false),
});

export type IdempotencyConfig = v.InferOutput<typeof idempotencySchema>;

export interface CompiledIdempotency {
  ttlMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  required: boolean;
  metrics: Record<"first" | "replayed" | "conflict" | "mismatch" | "released", string>;
}

export function compileIdempotency(routeId: string, idempotency: IdempotencyConfig): CompiledIdempotency {
  const key = (outcome: string) => metricKey("idempotency_requests_total", { route: routeId, outcome });
  return {
    ttlMs: idempotency.ttlSec * 1000,
    maxRequestBytes: idempotency.maxRequestBytes,
    maxResponseBytes: idempotency.maxResponseBytes,
    required: idempotency.required,
    metrics: {
      first: key("first"),
      replayed: key("replayed"),
      conflict: key("conflict"),
      mismatch: key("mismatch"),
      released: key("released"),
    },
  };
}

/** Idempotency keys guard writes: a route that matches neither POST nor PATCH has none to guard. */
export function idempotencyIssues(methods: readonly string[] | undefined, at: IssueAt, issues: ConfigIssue[]): void {
  if (methods !== undefined && !methods.some((m) => m === "POST" || m === "PATCH")) {
    issues.push({ path: at(".idempotency"), message: "only applies to POST and PATCH, and the route matches neither" });
  }
}
