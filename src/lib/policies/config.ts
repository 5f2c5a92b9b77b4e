/**
 * Policies in the config: the top-level `policies` map of named instances (a built-in kind with
 * its options, or a user's module), the `defaultPolicies` every route without a list of its own
 * gets, and a route's `policies` lists. The schema, the compile step (instances once, then each
 * route's chain as arrays the stages walk) and the checks across fields, including the ones only a
 * deployment can answer (a secret binding or a user module it lacks).
 */
import * as v from "valibot";
import { type ConfigIssue, type DeploymentFacts, described, durationMs, NAME, NAME_RULE, name } from "../config/fields.ts";
import { cors } from "./cors.ts";
import { type CustomPolicyModules, compileCustom, DEFAULT_POLICY_TIMEOUT_MS } from "./custom.ts";
import { ipFilter } from "./ip-filter.ts";
import { removeHeaders } from "./remove-headers.ts";
import { setHeaders } from "./set-headers.ts";
import { terminate } from "./terminate.ts";
import type { BuiltinPolicy, CompiledPolicy, PolicyDirections } from "./types.ts";

/** The built-in kinds, by the name a config's `use` gives. */
const BUILTIN: ReadonlyArray<BuiltinPolicy> = [terminate, cors, setHeaders, removeHeaders, ipFilter];

const BUILTIN_BY_USE: ReadonlyMap<string, BuiltinPolicy> = new Map(BUILTIN.map((policy) => [policy.use, policy]));

const customSchema = v.strictObject({
  use: described(v.literal("custom"), "A policy of your own, written in TypeScript (docs/policies/custom.md)."),
  module: described(name, "The user policy: policies/<module>.ts of the deployment, which exports inbound and/or outbound."),
  options: v.optional(described(v.unknown(), "Handed to the module as context.policy.options, as written here.")),
  timeoutMs: v.optional(
    described(durationMs(60_000), "How long one call of the module may take, in milliseconds; then the client gets 500 policy-failed."),
    DEFAULT_POLICY_TIMEOUT_MS,
  ),
});

const instanceSchema = v.variant(
  "use",
  [
    ...BUILTIN.map((policy) =>
      v.strictObject({
        use: described(v.literal(policy.use), policy.description),
        options: v.optional(described(policy.options, `The options of ${policy.use}.`), {}),
      }),
    ),
    customSchema,
  ],
  `must name its kind in 'use': one of ${[...BUILTIN.map((policy) => policy.use), "custom"].join(", ")}`,
);

const policyNames = v.pipe(v.array(name, "must be an array of policy names"), v.maxLength(32, "must have at most 32 policies"));

/** A route's (or the default) lists of policies, each run in its order. */
export const policyListsSchema = v.strictObject({
  inbound: v.optional(
    described(
      policyNames,
      "Policies run on the request, in order: CORS, ip-filter and terminate before authentication, the others after rate limiting.",
    ),
    [],
  ),
  outbound: v.optional(described(policyNames, "Policies run on the response, in order."), []),
});

export const policiesSchema = v.record(
  v.pipe(v.string(), v.regex(NAME, `policy names ${NAME_RULE}`)),
  described(instanceSchema, "One named policy: a built-in kind ('use') with its options, or your own module ('use': 'custom')."),
  "must be an object of policies",
);

export type PolicyInstanceConfig = v.InferOutput<typeof instanceSchema>;
type CustomInstance = v.InferOutput<typeof customSchema>;

function isCustom(instance: PolicyInstanceConfig): instance is CustomInstance {
  return instance.use === "custom";
}
export type PolicyListsConfig = v.InferOutput<typeof policyListsSchema>;

/** A route's policy chain, split by where each step runs; null when the route has none. */
export interface CompiledRoutePolicies {
  /** Inbound, before authentication. */
  early: readonly CompiledPolicy[];
  /** Inbound, after rate limiting. */
  late: readonly CompiledPolicy[];
  outbound: readonly CompiledPolicy[];
  /**
   * The route answers CORS preflights itself (a `cors` policy acts early): routing then gives it a
   * preflight for a method it serves even when OPTIONS is not among its methods.
   */
  answersPreflights: boolean;
}

function directionsOf(instance: PolicyInstanceConfig, deployment: DeploymentFacts | undefined): PolicyDirections | null {
  if (isCustom(instance)) {
    const module = deployment?.customPolicies.get(instance.module);
    if (module === undefined) return null;
    return { inbound: module.inbound ? "late" : null, outbound: module.outbound };
  }
  const builtin = BUILTIN_BY_USE.get(instance.use) as BuiltinPolicy;
  return builtin.directions(instance.options);
}

/** Compiles every instance once; routes share them. A custom module the bundle lacks compiles to steps that fail. */
export function compilePolicies(
  policies: Readonly<Record<string, PolicyInstanceConfig>>,
  modules: CustomPolicyModules,
): ReadonlyMap<string, CompiledPolicy> {
  const compiled = new Map<string, CompiledPolicy>();
  for (const [policyName, instance] of Object.entries(policies)) {
    if (isCustom(instance)) {
      const module = modules.get(instance.module);
      compiled.set(policyName, {
        name: policyName,
        use: "custom",
        ...compileCustom(policyName, module, instance.options, instance.timeoutMs),
      });
      continue;
    }
    const builtin = BUILTIN_BY_USE.get(instance.use) as BuiltinPolicy;
    const directions = builtin.directions(instance.options);
    compiled.set(policyName, {
      name: policyName,
      use: instance.use,
      phase: directions.inbound,
      ...builtin.compile(policyName, instance.options),
    });
  }
  return compiled;
}

/** A route's chain: its own lists, or the defaults when it has none. */
export function compileRoutePolicies(
  lists: PolicyListsConfig | undefined,
  defaults: PolicyListsConfig | undefined,
  compiled: ReadonlyMap<string, CompiledPolicy>,
): CompiledRoutePolicies | null {
  const chosen = lists ?? defaults;
  if (chosen === undefined || chosen.inbound.length + chosen.outbound.length === 0) return null;
  const inbound = chosen.inbound
    .map((policyName) => compiled.get(policyName))
    .filter((policy) => policy?.inbound != null) as CompiledPolicy[];
  const outbound = chosen.outbound
    .map((policyName) => compiled.get(policyName))
    .filter((policy) => policy?.outbound != null) as CompiledPolicy[];
  const early = inbound.filter((policy) => policy.phase === "early");
  return {
    early,
    late: inbound.filter((policy) => policy.phase === "late"),
    outbound,
    answersPreflights: early.some((policy) => policy.use === "cors"),
  };
}

/**
 * Checks of the custom instances against the user modules there are: a deployment's bundle, or
 * (`edgegate validate` in a checkout) the files of its policies/ directory.
 */
export function customModuleIssues(
  policies: Readonly<Record<string, PolicyInstanceConfig>>,
  modules: { has(module: string): boolean },
  issues: ConfigIssue[],
): void {
  for (const [policyName, instance] of Object.entries(policies)) {
    if (isCustom(instance) && !modules.has(instance.module)) {
      issues.push({
        path: `policies.${policyName}.module`,
        message: `names the policy module '${instance.module}', which this deployment does not bundle (policies/${instance.module}.ts)`,
      });
    }
  }
}

/** Checks of the instances against the deployment: secret bindings and user modules it must have. */
export function policyInstanceIssues(
  policies: Readonly<Record<string, PolicyInstanceConfig>>,
  deployment: DeploymentFacts | undefined,
  issues: ConfigIssue[],
): void {
  if (deployment === undefined) return;
  customModuleIssues(policies, deployment.customPolicies, issues);
  for (const [policyName, instance] of Object.entries(policies)) {
    const at = `policies.${policyName}`;
    if (isCustom(instance)) continue;
    const builtin = BUILTIN_BY_USE.get(instance.use) as BuiltinPolicy;
    for (const binding of builtin.bindings(instance.options)) {
      if (!deployment.bindings.has(binding)) {
        issues.push({ path: `${at}.options`, message: `names the binding '${binding}', which this deployment does not have` });
      }
    }
  }
}

/** Checks of one list (a route's or the defaults') against the instances it names. */
export function policyListIssues(
  lists: PolicyListsConfig,
  policies: Readonly<Record<string, PolicyInstanceConfig>>,
  deployment: DeploymentFacts | undefined,
  at: string,
  issues: ConfigIssue[],
): void {
  for (const direction of ["inbound", "outbound"] as const) {
    lists[direction].forEach((policyName, i) => {
      const here = `${at}.${direction}[${i}]`;
      if (lists[direction].indexOf(policyName) !== i) {
        issues.push({ path: here, message: `repeats '${policyName}'` });
        return;
      }
      const instance = Object.hasOwn(policies, policyName) ? policies[policyName] : undefined;
      if (instance === undefined) {
        issues.push({ path: here, message: `names policy '${policyName}', which is not defined in policies` });
        return;
      }
      const directions = directionsOf(instance, deployment);
      if (directions === null) return;
      if (directions.inbound === null && !directions.outbound) {
        const module = isCustom(instance) ? ` (policies/${instance.module}.ts exports neither an inbound nor an outbound function)` : "";
        issues.push({ path: here, message: `'${policyName}' does nothing to a request or a response${module}` });
        return;
      }
      if (direction === "inbound" && directions.inbound === null) {
        issues.push({ path: here, message: `'${policyName}' does nothing to a request; list it under outbound` });
      }
      if (direction === "outbound" && !directions.outbound) {
        issues.push({ path: here, message: `'${policyName}' does nothing to a response; list it under inbound` });
      }
    });
  }
}
