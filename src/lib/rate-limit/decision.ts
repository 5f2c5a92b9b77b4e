/**
 * What a limiter backend answers and what the rate-limit stage decides from it, shared by the
 * exact and local-first modes and by both backends.
 */

/** A backend's answer to "take `ask` tokens for this key". */
export interface Grant {
  /** Tokens taken; 0 when refused. */
  granted: number;
  /** Tokens the backend has left for the key after this take. */
  remaining: number;
  /** Epoch ms at which more quota becomes available. */
  resetAt: number;
  /** Epoch ms at which a refused request could first pass. */
  retryAt: number;
}

/** Why a backend gave no answer. */
export type LimiterFailure = "timeout" | "error" | "unconfigured";

export type Decision =
  | { kind: "allowed"; remaining: number; resetAt: number }
  | { kind: "denied"; resetAt: number; retryAt: number }
  | { kind: "failed"; failure: LimiterFailure; detail?: string };

/** A backend call that did not produce a grant; `failure` says why, for the failure mode and the metrics. */
export class LimiterError extends Error {
  readonly failure: LimiterFailure;

  constructor(failure: LimiterFailure, message: string) {
    super(message);
    this.name = "LimiterError";
    this.failure = failure;
  }
}

/** The failure behind any thrown value: a LimiterError says; anything else is an error. */
export function failureOf(error: unknown): LimiterFailure {
  return error instanceof LimiterError ? error.failure : "error";
}
