/**
 * Helpers for testing a policy as a plain function, without a gateway (docs/policies/custom.md):
 * the context the gateway would hand it, with what it logs and hands to waitUntil kept for the
 * test to read. Not a policy itself: files starting with `_` are not bundled as modules.
 */
import type { OutboundContext, PolicyCaller, PolicyContext } from "../src/lib/policies/contract.ts";

/** A logged line, as the test sees it. */
export interface LoggedLine {
  level: string;
  event: string;
  fields: Record<string, unknown>;
}

export interface TestContext extends PolicyContext {
  /** What the policy logged through context.log, in order. */
  logged: LoggedLine[];
  /** What the policy handed to context.waitUntil, in order. */
  waited: Array<Promise<unknown>>;
}

/** A caller with a JWT's claims, as authentication would verify them. */
export function jwtCaller(claims: Record<string, unknown>): PolicyCaller {
  const subject = typeof claims.sub === "string" ? claims.sub : null;
  const scope = typeof claims.scope === "string" ? claims.scope : "";
  return { method: "jwt", subject, consumer: null, scopes: new Set(scope.split(" ").filter(Boolean)), claims };
}

/** The context of an inbound call: `options` as a config would give them, and whatever else the test sets. */
export function testContext(options: unknown = {}, overrides: Partial<PolicyContext> = {}): TestContext {
  const logged: LoggedLine[] = [];
  const waited: Array<Promise<unknown>> = [];
  return {
    policy: { name: "under-test", options },
    route: { id: "route", params: {} },
    caller: undefined,
    clientIp: "203.0.113.7",
    requestId: "test-request-id",
    env: {},
    waitUntil: (work) => {
      waited.push(work);
    },
    log: (level, event, fields = {}) => {
      logged.push({ level, event, fields });
    },
    ...overrides,
    logged,
    waited,
  };
}

/** The context of an outbound call: that of an inbound one, and the request the response answers. */
export function testOutboundContext(
  options: unknown = {},
  request: Request = new Request("https://gateway.example.com/"),
  overrides: Partial<PolicyContext> = {},
): TestContext & OutboundContext {
  return { ...testContext(options, overrides), request };
}
