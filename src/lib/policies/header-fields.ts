/**
 * The header fields a header-editing policy (set-headers, remove-headers) may name, and the option
 * schemas of those names. A policy never touches what the gateway, the platform or HTTP framing
 * owns: the same fields the upstream request's builder (src/lib/headers.ts) keeps out of a
 * policy's reach, checked here when the config is published so a config never says what will not
 * happen. Names are judged folded (`_` as `-`), as origins that fold read them.
 */
import * as v from "valibot";
import { TOKEN } from "../config/fields.ts";
import { foldedName, isHopByHop } from "../headers.ts";

/** Which message a policy edits. */
export type Message = "request" | "response";

/** Most header fields one instance may name per message: a map longer than this is a config to split. */
export const MAX_FIELDS = 64;

/**
 * Why a policy may not set (or remove) field `name` of the `message`, or undefined when it may.
 * `name` is lower-case; it is judged folded, so `x_forwarded_for` is refused as X-Forwarded-For.
 */
export function ownedFieldProblem(name: string, message: Message, edit: "set" | "remove"): string | undefined {
  const folded = foldedName(name);
  if (isHopByHop(folded)) return "is a hop-by-hop field (RFC 9110 section 7.6.1): it describes one connection and is never forwarded";
  if (folded === "content-length") return "frames the body: the runtime sets it from the body itself";
  if (folded === "content-encoding") return "says how the body's bytes are encoded, which the gateway passes on as they are";
  if (folded === "x-request-id") return "is the gateway's request id, which it sets on every request and response";
  if (folded.startsWith("x-edgegate-")) return "is in the gateway's own namespace (x-edgegate-*)";
  if (folded.startsWith("cf-") || folded === "true-client-ip" || folded === "cdn-loop") {
    return "is set by Cloudflare itself, from its own view of the connection";
  }
  if (message === "request") {
    if (folded === "host") return "is the upstream's authority, which the gateway takes from the cluster target";
    if (folded === "forwarded" || folded === "x-real-ip" || folded.startsWith("x-forwarded-")) {
      return "is set by the gateway from the connection it saw; a client's copy never reaches the upstream";
    }
    if (folded === "traceparent" || folded === "tracestate") return "carries the trace context (W3C Trace Context), which the gateway sets";
  } else if (folded === "set-cookie" && edit === "set") {
    // Setting replaces every Set-Cookie the upstream sent (a session among them), and a cookie's
    // attributes (Secure, HttpOnly, SameSite, Path) are no header map's to get right. Removing
    // the upstream's cookies is allowed: remove-headers.
    return "would replace every cookie the upstream sets; write a policy of your own to add a cookie (remove-headers may remove them)";
  }
  return undefined;
}

/** A header field name as a config writes it (any case), refused when the gateway owns it. */
export function fieldName(message: Message, edit: "set" | "remove") {
  return v.pipe(
    v.string("must be a string"),
    v.regex(TOKEN, "must be a header field name"),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      const problem = dataset.typed ? ownedFieldProblem(dataset.value.toLowerCase(), message, edit) : undefined;
      if (problem) addIssue({ message: problem });
    }),
  );
}

/**
 * The names of `names` that repeat an earlier one, folded and in any case (X-Tenant, x_tenant and
 * x-tenant are one field to an origin that folds): each with its index and the name it repeats.
 */
export function repeatedFields(names: readonly string[]): Array<{ index: number; name: string; first: string }> {
  const seen = new Map<string, string>();
  const repeats: Array<{ index: number; name: string; first: string }> = [];
  names.forEach((name, index) => {
    const key = foldedName(name.toLowerCase());
    const first = seen.get(key);
    if (first === undefined) seen.set(key, name);
    else repeats.push({ index, name, first });
  });
  return repeats;
}
