/**
 * What a compiled policy is to the pipeline, whatever its kind (a built-in one of this folder, or a
 * user's module): a name, where it acts, and the pure steps it takes on a request or a response.
 * The policy stages (src/stages/policies/) run the steps in the order the route lists them; a
 * policy never reaches for anything else of the gateway.
 */
import type * as v from "valibot";
import type { HeaderPairs } from "../headers.ts";
import type { Identity } from "../identity.ts";

/**
 * Where an inbound policy acts: `early`, right after the route is matched and before
 * authentication and rate limiting (a CORS preflight, an IP filter, a maintenance answer: none
 * needs to know the caller, and each must answer before a credential is asked for); `late`, after
 * rate limiting, with the caller's identity, just before the request heads upstream.
 */
export type InboundPhase = "early" | "late";

/** What an inbound policy sees of the request. */
export interface PolicyRequest {
  /** The client's request as the gateway got it (its body unread). */
  request: Request;
  /** From CF-Connecting-IP; null where the platform gave none. */
  clientIp: string | null;
  requestId: string;
  routeId: string;
  /** The route's path parameters. */
  params: Readonly<Record<string, string>>;
  /** The verified caller; always undefined in the early phase, and on routes without auth. */
  identity: Identity | undefined;
  /** The deployment's bindings (secrets, service bindings), by name. */
  env: Readonly<Record<string, unknown>>;
  waitUntil: (work: Promise<unknown>) => void;
}

/** Edits of the request the upstream gets: added after the client's fields, and fields removed. */
export interface RequestEdits {
  /** Set on the upstream request (replacing the client's value of that name). */
  set: HeaderPairs;
  /** Removed from the upstream request, lower-case and folded (`_` as `-`): every spelling of them goes. */
  remove: readonly string[];
}

/**
 * What an inbound policy decided, with its one-word `decision` for the access log and
 * Server-Timing: go on (perhaps editing the upstream request, perhaps marking the response to come),
 * or answer now, in which case nothing after it runs and no upstream is called.
 */
export type InboundOutcome =
  | {
      kind: "continue";
      decision: string;
      editRequest?: RequestEdits;
      /** Applied to whatever response the client gets (an upstream's answer or the gateway's own error). */
      editResponse?: (headers: Headers) => void;
    }
  | { kind: "respond"; decision: string; response: Response };

/** What an outbound policy sees: the response on its way to the client, and the request it answers. */
export interface PolicyResponse extends PolicyRequest {
  response: Response;
}

/** An outbound policy's decision, and the response to send instead when it replaced it. */
export interface OutboundOutcome {
  decision: string;
  response?: Response;
}

export interface CompiledPolicy {
  /** The instance's name in the config's `policies` map. */
  name: string;
  /** Its kind: a built-in policy's name, or `custom`. */
  use: string;
  /** Where it acts on the way in; null for a policy that acts only on responses. */
  phase: InboundPhase | null;
  inbound: ((request: PolicyRequest) => InboundOutcome | Promise<InboundOutcome>) | null;
  outbound: ((response: PolicyResponse) => OutboundOutcome | Promise<OutboundOutcome>) | null;
}

/** Which lists of a route an instance may stand in, given its options. */
export interface PolicyDirections {
  /** Its phase when listed inbound; null: it does nothing on the way in. */
  inbound: InboundPhase | null;
  /** Whether it does anything on the way out. */
  outbound: boolean;
}

/**
 * A built-in policy kind: its options' schema, and the pure steps its options compile to. Each kind
 * is one module of this folder; config.ts lists them.
 */
export interface BuiltinPolicy<TSchema extends v.GenericSchema = v.GenericSchema> {
  use: string;
  /** What it is for, in one line: the JSON Schema's description of the kind. */
  description: string;
  options: TSchema;
  directions(options: v.InferOutput<TSchema>): PolicyDirections;
  /** The deployment bindings its options name (secrets): a config naming one the deployment lacks is refused. */
  bindings(options: v.InferOutput<TSchema>): readonly string[];
  compile(name: string, options: v.InferOutput<TSchema>): Pick<CompiledPolicy, "inbound" | "outbound">;
}

/** Declares a built-in policy kind, keeping its options' type across the methods. */
export function builtinPolicy<TSchema extends v.GenericSchema>(policy: BuiltinPolicy<TSchema>): BuiltinPolicy<TSchema> {
  return policy;
}
