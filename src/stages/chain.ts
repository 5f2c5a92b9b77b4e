/**
 * A route's stage chain: the stages that run after the route is matched, composed once per shape
 * of route (which optional stages it has work for). Matching a route picks its chain, so a route
 * runs only the stages it needs: one without policies never enters the policy stages, which then
 * cost it nothing, not even a dispatch.
 *
 * The chain keeps Hono's own composition rules, so a stage cannot tell it from `app.all(...)`: an
 * error a stage throws becomes the app's error answer right there (with `c.error` set), so the
 * stages around it resume from `await next()` with that answer as `c.res`; a stage that returns a
 * Response has it taken as the answer; the last stage's `next` is the one the chain was given.
 */
import type { Context, ErrorHandler, MiddlewareHandler, Next } from "hono";
import type { CompiledRoute } from "../config/compile.ts";
import type { AppEnv } from "../variables.ts";

export type Stage = MiddlewareHandler<AppEnv>;

/** Runs `stages` in order, as the continuation of the stage that calls it. */
export type StageChain = (c: Context<AppEnv>, next: Next) => Promise<void>;

export function stageChain(stages: readonly Stage[], onError: ErrorHandler<AppEnv>): StageChain {
  const last = stages.length - 1;
  return function runStages(c, next) {
    let index = -1;
    const dispatch = async (i: number): Promise<void> => {
      if (i <= index) throw new Error("next() called multiple times");
      index = i;
      let answer: Response | undefined;
      let failed = false;
      try {
        answer = (await (stages[i] as Stage)(c, i === last ? next : () => dispatch(i + 1))) ?? undefined;
      } catch (error) {
        if (!(error instanceof Error)) throw error;
        c.error = error;
        answer = await onError(error, c);
        failed = true;
      }
      if (answer && (!c.finalized || failed)) c.res = answer;
    };
    return dispatch(0);
  };
}

/** A stage every route runs, or an optional one with the test of the routes that need it. */
export type StageEntry = Stage | OptionalStage;
type OptionalStage = readonly [Stage, (route: CompiledRoute) => boolean];

const isOptional = (entry: StageEntry): entry is OptionalStage => Array.isArray(entry);

/**
 * The chain of each route, from the stages in order: a route's shape is the set of optional stages
 * whose tests hold for it, and each shape's chain is composed the first time a route of it is served.
 */
export function routeChains(entries: readonly StageEntry[], onError: ErrorHandler<AppEnv>): (route: CompiledRoute) => StageChain {
  const tests = entries.filter(isOptional).map(([, needs]) => needs);
  const composed = new Map<number, StageChain>();
  const compose = (shape: number): StageChain => {
    let optional = 0;
    const stages: Stage[] = [];
    for (const entry of entries) {
      if (!isOptional(entry)) stages.push(entry);
      else if (shape & (1 << optional++)) stages.push(entry[0]);
    }
    const chain = stageChain(stages, onError);
    composed.set(shape, chain);
    return chain;
  };
  return function chainFor(route) {
    let shape = 0;
    for (let i = 0; i < tests.length; i++) if ((tests[i] as OptionalStage[1])(route)) shape |= 1 << i;
    return composed.get(shape) ?? compose(shape);
  };
}
