/**
 * A test-only module with the most likely mistake in shape: the functions under a default export
 * (as a Worker's fetch handler is written) rather than as named exports. It acts in no direction,
 * and a config that lists it is refused.
 */
import type { PolicyModule } from "../../src/lib/policies/contract.ts";

const policy: PolicyModule = { inbound: () => {} };

export default policy;
