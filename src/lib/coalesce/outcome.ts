/**
 * What a coalesced call hands its followers. Only plain data: a stream or Response of the leader's
 * request cannot be read from another request, but bytes in a Blob can, without a copy per follower.
 */
import type { ProblemCode } from "../../errors.ts";
import type { HeaderPairs } from "../headers.ts";
import type { VaryValues } from "./response.ts";

export type CoalesceOutcome =
  /** The answer, buffered once: each follower builds its own Response around the same Blob. */
  | { kind: "shared"; status: number; statusText: string; headers: HeaderPairs; body: Blob | null; vary: VaryValues }
  /** The gateway's own error for the call (timeout, unreachable, no healthy target): each follower gets it too. */
  | { kind: "failed"; code: ProblemCode; detail: string | undefined; headers: Record<string, string> }
  /** The answer was not shareable (or the leader's stage chain broke): each follower makes its own call. */
  | { kind: "alone" };
