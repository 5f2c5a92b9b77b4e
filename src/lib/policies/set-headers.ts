/**
 * `set-headers`: header fields set on the request the upstream gets and/or on the response the
 * client gets, each from a literal, from the request (client address, request id, route id), from
 * a verified claim, or (towards the upstream only) from a secret binding of the deployment, so an
 * origin can check a shared secret that no client ever sees.
 *
 * A set replaces: the client's field of that name, in every spelling an origin folds onto it
 * (X_Origin_Secret, x-origin-secret), never reaches the upstream next to the policy's, even when
 * the policy has no value to send (a claim the caller lacks). Fields the gateway, the platform or
 * HTTP framing own cannot be named (header-fields.ts). A forwarded claim (a route's
 * auth.claimHeaders) of the same name wins over a policy's field: it is the verified claim.
 */
import * as v from "valibot";
import { described } from "../config/fields.ts";
import { claimHeaderValue } from "../credentials.ts";
import { foldedName, type HeaderPairs } from "../headers.ts";
import { PolicyFailure } from "./custom.ts";
import { fieldName, MAX_FIELDS, repeatedFields } from "./header-fields.ts";
import { builtinPolicy, type InboundOutcome, type OutboundOutcome, type PolicyRequest, type PolicyResponse } from "./types.ts";

/** A binding name as wrangler takes it: a JavaScript identifier of ASCII letters, digits and `_`. */
const BINDING = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * The gateway's own bindings (src/env.ts, wrangler.jsonc): never a policy's secret. ADMIN_TOKEN
 * sent upstream would hand the admin API to whoever runs the origin. set-headers.test.ts holds the
 * list to the Worker's bindings type, both ways, so a binding added or renamed is a type error there.
 */
export const GATEWAY_BINDING_NAMES = [
  "ADMIN_TOKEN",
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
  "CONFIG",
  "METRICS",
  "METRICS_AGGREGATOR",
  "RATE_LIMITER",
  "BREAKER",
  "CONFIG_PUBLISHER",
  "IDEMPOTENCY",
  "ALLOW_PRIVATE_UPSTREAMS",
  "CONFIG_REFRESH_INTERVAL_MS",
] as const;
const GATEWAY_BINDINGS: ReadonlySet<string> = new Set(GATEWAY_BINDING_NAMES);

const HEADER_VALUE = "1 to 4096 printable ASCII characters, without leading or trailing spaces";

/** A literal value: sent as written, so it must be what the receiver reads byte for byte. */
const literal = v.pipe(
  v.string("must be a string"),
  v.minLength(1, `must be ${HEADER_VALUE}`),
  v.maxLength(4_096, `must be ${HEADER_VALUE}`),
  v.check((text) => claimHeaderValue(text) === text, `must be ${HEADER_VALUE}`),
);

const fromRequest = v.strictObject({
  from: described(
    v.picklist(["client-ip", "request-id", "route-id"], "must be 'client-ip', 'request-id' or 'route-id'"),
    "A value of the request: client-ip (CF-Connecting-IP; left out where the platform gave none), request-id (the gateway's X-Request-Id), route-id (the matched route's id).",
  ),
});

const fromClaim = v.strictObject({
  claim: described(
    v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(256, "must be at most 256 characters")),
    "A verified claim of the caller (for an API key: sub, the consumer, and scope), sent byte for byte as auth.claimHeaders sends claims, or left out: on a route without auth, when the caller lacks it, or when its value would not arrive as it is.",
  ),
});

const fromSecret = v.strictObject({
  secret: described(
    v.pipe(
      v.string("must be a string"),
      v.regex(BINDING, "must be a binding name: up to 64 ASCII letters, digits and '_', not starting with a digit"),
      v.check((binding) => !GATEWAY_BINDINGS.has(binding), "is one of the gateway's own bindings, never sent to an upstream"),
    ),
    "A secret binding of the deployment (wrangler secret put <NAME>), by name: its value goes to the upstream and nowhere else. A publish naming one the deployment lacks is refused.",
  ),
});

const SOURCE_RULE = `must be a string, {"from": "client-ip" | "request-id" | "route-id"}, {"claim": "<name>"} or {"secret": "<BINDING>"}`;

const requestValue = v.union([literal, fromRequest, fromClaim, fromSecret], SOURCE_RULE);

const responseValue = v.union([literal, fromRequest, fromClaim], (issue) =>
  typeof issue.input === "object" && issue.input !== null && Object.hasOwn(issue.input, "secret")
    ? "cannot be a secret: a secret goes to the upstream, never in a response"
    : `must be a string, {"from": "client-ip" | "request-id" | "route-id"} or {"claim": "<name>"}`,
);

type ValueSource = v.InferOutput<typeof requestValue>;

/** Each field once, however spelled, and at least one: a check of a field map as written. */
function distinctFields<TMap extends Record<string, unknown>>() {
  return v.rawCheck<TMap>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const map = dataset.value;
    const names = Object.keys(map);
    if (names.length === 0) addIssue({ message: "must set at least one header; leave it out for none" });
    if (names.length > MAX_FIELDS) addIssue({ message: `must set at most ${MAX_FIELDS} headers` });
    for (const { name, first } of repeatedFields(names)) {
      addIssue({
        message: `is the field '${first}' again (names are compared in lower case, '_' as '-')`,
        path: [{ type: "object", origin: "key", input: map, key: name, value: map[name] }],
      });
    }
  });
}

function lowerCaseNames<TValue>(map: Readonly<Record<string, TValue>>): Record<string, TValue> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name.toLowerCase(), value]));
}

const FIELD_MAP_RULE = "must be an object of header field name to value";
const requestMap = v.record(fieldName("request", "set"), requestValue, FIELD_MAP_RULE);
const responseMap = v.record(fieldName("response", "set"), responseValue, FIELD_MAP_RULE);
type RequestMap = v.InferOutput<typeof requestMap>;
type ResponseMap = v.InferOutput<typeof responseMap>;

/** Field name to value, names lower-cased; each name once, however spelled. */
const requestFields = v.pipe(requestMap, distinctFields<RequestMap>(), v.transform(lowerCaseNames<ValueSource>));
const responseFields = v.pipe(responseMap, distinctFields<ResponseMap>(), v.transform(lowerCaseNames<v.InferOutput<typeof responseValue>>));

const options = v.pipe(
  v.strictObject({
    request: v.optional(
      described(
        requestFields,
        "Header fields set on the request the upstream gets, by name: a string, or where the value comes from. The client's field of the name, in any spelling with '_' for '-', is always removed. Unset: the request is left as it is.",
      ),
    ),
    response: v.optional(
      described(
        responseFields,
        "Header fields set on the response the client gets (the upstream's or the gateway's own error), replacing the upstream's; no secrets. Unset: the response is left as it is.",
      ),
    ),
  }),
  v.check((config) => config.request !== undefined || config.response !== undefined, "must set request, response or both"),
);

/** Where one field's value comes from, compiled: the value for this request, or undefined to leave it out. */
type Resolve = (at: PolicyRequest) => string | undefined;

function resolver(policy: string, source: ValueSource): Resolve {
  if (typeof source === "string") return () => source;
  if ("from" in source) {
    if (source.from === "client-ip") return (at) => at.clientIp ?? undefined;
    if (source.from === "request-id") return (at) => at.requestId;
    return (at) => at.routeId;
  }
  if ("claim" in source) {
    const claim = source.claim;
    return (at) => {
      const claims = at.identity?.claims;
      return claims !== undefined && Object.hasOwn(claims, claim) ? claimHeaderValue(claims[claim]) : undefined;
    };
  }
  const binding = source.secret;
  return (at) => {
    const secret = at.env[binding];
    // The value never goes into a message: only the binding's name does.
    // Validation (at publish, and when an isolate loads the config) has found the binding; one of
    // another kind (a service, a KV namespace) passes that check, and is refused here.
    if (secret === undefined) throw new PolicyFailure(policy, `the secret binding '${binding}' is not set in this deployment`);
    if (typeof secret !== "string")
      throw new PolicyFailure(policy, `the binding '${binding}' is not a secret (a string) but another kind of binding`);
    if (claimHeaderValue(secret) !== secret) {
      throw new PolicyFailure(policy, `the secret binding '${binding}' is not a header value (${HEADER_VALUE})`);
    }
    return secret;
  };
}

function compiledFields(policy: string, map: Readonly<Record<string, ValueSource>> | undefined): Array<[string, Resolve]> {
  return Object.entries(map ?? {}).map(([name, source]) => [name, resolver(policy, source)]);
}

export const setHeaders = builtinPolicy({
  use: "set-headers",
  description:
    "Sets header fields on the request the upstream gets and/or the response the client gets: literals, request values, verified claims, or a secret binding for the upstream.",
  options,
  directions: (config) => ({ inbound: config.request === undefined ? null : "late", outbound: config.response !== undefined }),
  bindings: (config) =>
    Object.values(config.request ?? {}).flatMap((source) => (typeof source === "object" && "secret" in source ? [source.secret] : [])),
  compile(name, config) {
    const requestFields = compiledFields(name, config.request);
    const responseFields = compiledFields(name, config.response);
    // Every spelling of a set name an origin folds onto it goes, the client's value of it too.
    const remove = requestFields.map(([field]) => foldedName(field));
    return {
      inbound:
        requestFields.length === 0
          ? null
          : function setRequestHeaders(at: PolicyRequest): InboundOutcome {
              const set: HeaderPairs = [];
              for (const [field, resolve] of requestFields) {
                const value = resolve(at);
                if (value !== undefined) set.push([field, value]);
              }
              return { kind: "continue", decision: set.length === requestFields.length ? "set" : "partial", editRequest: { set, remove } };
            },
      outbound:
        responseFields.length === 0
          ? null
          : function setResponseHeaders(at: PolicyResponse): OutboundOutcome {
              let all = true;
              for (const [field, resolve] of responseFields) {
                const value = resolve(at);
                // Left out, the field is the gateway's still: the upstream's value of it does not stand in.
                if (value === undefined) {
                  at.response.headers.delete(field);
                  all = false;
                } else {
                  at.response.headers.set(field, value);
                }
              }
              return { decision: all ? "set" : "partial" };
            },
    };
  },
});
