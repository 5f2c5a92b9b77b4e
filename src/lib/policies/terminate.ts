/**
 * `terminate`: a fixed answer instead of the upstream's, for maintenance (every request) or a
 * brownout (a share of them, so clients' failure handling is exercised before an outage does it).
 * Acts early, before authentication: a route under maintenance asks no one for credentials.
 */
import * as v from "valibot";
import { problemResponse } from "../../errors.ts";
import { described, integer, percent } from "../config/fields.ts";
import { builtinPolicy } from "./types.ts";

const options = v.strictObject({
  status: v.optional(described(integer(400, 599), "The answer's status: 503 for maintenance, 429 or 503 for a brownout."), 503),
  share: v.optional(
    described(percent, "Share of requests answered this way, in percent; the rest go on as usual (a brownout). 100: every request."),
    100,
  ),
  retryAfterSec: v.optional(described(integer(0, 86_400), "Retry-After on the answer, in seconds. Unset: none.")),
  detail: v.optional(
    described(
      v.pipe(v.string("must be a string"), v.maxLength(1_024, "must be at most 1024 characters")),
      "The problem document's detail, shown to clients: say when the route is back.",
    ),
  ),
});

export const terminate = builtinPolicy({
  use: "terminate",
  description:
    "Answers with a fixed problem (maintenance), for every request or a share of them (a brownout), without calling the upstream.",
  options,
  directions: () => ({ inbound: "early", outbound: false }),
  bindings: () => [],
  compile(_name, config) {
    const basisPoints = Math.round(config.share * 100);
    const headers: Record<string, string> = config.retryAfterSec === undefined ? {} : { "retry-after": String(config.retryAfterSec) };
    return {
      inbound: ({ requestId }) => {
        // Math.random is in [0, 1): a share of 100 answers every request, 0 none.
        if (Math.random() * 10_000 >= basisPoints) return { kind: "continue", decision: "passed" };
        return {
          kind: "respond",
          decision: "terminated",
          response: problemResponse("terminated", requestId, config.detail, headers, undefined, config.status),
        };
      },
      outbound: null,
    };
  },
});
