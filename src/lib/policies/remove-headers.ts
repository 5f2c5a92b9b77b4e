/**
 * `remove-headers`: header fields the upstream never gets from the client (every spelling an
 * origin folds onto the name: X_Debug goes with X-Debug), and/or fields of the response the client
 * never gets (an upstream's Server, X-Powered-By or Set-Cookie). It removes what came from the
 * other side, never what a policy or the gateway sets: a name the gateway sets itself (forwarding,
 * request id, trace context, framing) is refused, as the removal could not hold.
 */
import * as v from "valibot";
import { described } from "../config/fields.ts";
import { foldedName } from "../headers.ts";
import { fieldName, MAX_FIELDS, type Message, repeatedFields } from "./header-fields.ts";
import { builtinPolicy, type InboundOutcome, type OutboundOutcome, type PolicyResponse } from "./types.ts";

/** Field names, lower-cased; each name once, however spelled. */
function fieldList(message: Message) {
  return v.pipe(
    v.array(fieldName(message, "remove"), "must be an array of header field names"),
    v.minLength(1, "must name at least one header; leave it out for none"),
    v.maxLength(MAX_FIELDS, `must name at most ${MAX_FIELDS} headers`),
    v.rawCheck<string[]>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const list = dataset.value;
      for (const { index, first } of repeatedFields(list)) {
        addIssue({
          message: `is the field '${first}' again (names are compared in lower case, '_' as '-')`,
          path: [{ type: "array", origin: "value", input: list, key: index, value: list[index] }],
        });
      }
    }),
    v.transform((list) => list.map((name) => name.toLowerCase())),
  );
}

const options = v.pipe(
  v.strictObject({
    request: v.optional(
      described(
        fieldList("request"),
        "Header fields the upstream never gets from the client, in any spelling with '_' for '-'. Unset: none removed.",
      ),
    ),
    response: v.optional(
      described(
        fieldList("response"),
        "Header fields removed from the response the client gets (the upstream's or the gateway's own error). Unset: none removed.",
      ),
    ),
  }),
  v.check((config) => config.request !== undefined || config.response !== undefined, "must set request, response or both"),
);

export const removeHeaders = builtinPolicy({
  use: "remove-headers",
  description: "Removes header fields from the request the upstream gets and/or from the response the client gets.",
  options,
  directions: (config) => ({ inbound: config.request === undefined ? null : "late", outbound: config.response !== undefined }),
  bindings: () => [],
  compile(_name, config) {
    const remove: readonly string[] = (config.request ?? []).map(foldedName);
    const fromResponse: readonly string[] = config.response ?? [];
    return {
      inbound:
        remove.length === 0
          ? null
          : function removeRequestHeaders(): InboundOutcome {
              return { kind: "continue", decision: "removed", editRequest: { set: [], remove } };
            },
      outbound:
        fromResponse.length === 0
          ? null
          : function removeResponseHeaders(at: PolicyResponse): OutboundOutcome {
              for (const field of fromResponse) at.response.headers.delete(field);
              return { decision: "removed" };
            },
    };
  },
});
