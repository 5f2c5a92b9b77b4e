/**
 * What this deployment has that a config may name, as config validation needs it: the bindings
 * (secrets, service and mTLS bindings) and the user policy modules it bundles. Read once per env
 * object, which the runtime keeps for the isolate's lifetime.
 */
import type { Bindings } from "../env.ts";
import { gatewaySettings } from "../env.ts";
import { fetcherBinding } from "../lib/bindings.ts";
import type { ConfigValidationOptions } from "../lib/config/fields.ts";
import { customDirections } from "../lib/policies/custom.ts";
import { customPolicyModules } from "../policies/registry.ts";

const validations = new WeakMap<Bindings, ConfigValidationOptions>();

/** How a config is validated in this deployment: its address rule, and what it has that a config may name. */
export function deploymentValidation(env: Bindings): ConfigValidationOptions {
  let validation = validations.get(env);
  if (validation === undefined) {
    validation = {
      ...gatewaySettings(env).validation,
      deployment: {
        bindings: new Set(Object.keys(env)),
        fetchers: new Set(Object.keys(env).filter((name) => fetcherBinding(env, name) !== null)),
        customPolicies: new Map([...customPolicyModules].map(([name, module]) => [name, customDirections(module)])),
      },
    };
    validations.set(env, validation);
  }
  return validation;
}
