/**
 * An example user policy (inbound): the request must name, in its X-Tenant header, a tenant the
 * caller's credential belongs to, and the upstream is told that tenant in X-Tenant-Id, a header it
 * can trust because no client value of it gets through. List it on routes with `auth`:
 *
 *   "policies": { "tenant": { "use": "custom", "module": "tenant-header" } },
 *   "routes": [{ ..., "auth": { "jwt": "idp" }, "policies": { "inbound": ["tenant"] } }]
 *
 * Options (all optional): `claim`, the JWT claim holding the caller's tenant or tenants (a string or
 * an array of strings; default "tenant"); `header`, where the client names its tenant (default
 * "x-tenant"); `forwardAs`, the header the upstream gets (default "x-tenant-id").
 */
import type { InboundPolicy, PolicyContext } from "../src/lib/policies/contract.ts";

interface TenantOptions {
  claim: string;
  header: string;
  forwardAs: string;
}

/** The options as configured, with the defaults; a wrong type is the deployment's mistake, so it throws. */
function tenantOptions(options: unknown): TenantOptions {
  const given = (options ?? {}) as Record<string, unknown>;
  const chosen = { claim: given.claim ?? "tenant", header: given.header ?? "x-tenant", forwardAs: given.forwardAs ?? "x-tenant-id" };
  for (const [key, value] of Object.entries(chosen)) {
    if (typeof value !== "string" || value === "") throw new TypeError(`options.${key} must be a non-empty string`);
  }
  return chosen as TenantOptions;
}

/** The tenants the caller belongs to, from its verified claims. */
function callerTenants(context: PolicyContext, claim: string): string[] {
  const value = context.caller?.claims[claim];
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
  return [];
}

/** A 403 shaped like the gateway's own problems (RFC 9457), with the request id to quote. */
function forbidden(detail: string, context: PolicyContext): Response {
  const problem = { type: "about:blank", title: "Forbidden", status: 403, detail, requestId: context.requestId };
  return new Response(JSON.stringify(problem), { status: 403, headers: { "content-type": "application/problem+json" } });
}

export const inbound: InboundPolicy = (request, context) => {
  const { claim, header, forwardAs } = tenantOptions(context.policy.options);
  // A route without auth has no caller to check: a mistake in the config, not the client's.
  if (context.caller === undefined) throw new Error("tenant-header needs a route with auth");
  const asked = request.headers.get(header);
  if (asked === null) return forbidden(`The request must name its tenant in ${header}.`, context);
  if (!callerTenants(context, claim).includes(asked)) {
    context.log("info", "tenant.refused", { subject: context.caller.subject, asked });
    return forbidden(`This credential does not belong to tenant '${asked}'.`, context);
  }
  // Every spelling of the forwarded header goes, then the checked value is set: some origins read
  // x_tenant_id as X-Tenant-Id (CGI, WSGI, PHP), so a client's x_tenant_id must not get through either.
  const forwarded = forwardAs.toLowerCase().replaceAll("_", "-");
  for (const name of [...request.headers.keys()]) {
    if (name.replaceAll("_", "-") === forwarded) request.headers.delete(name);
  }
  request.headers.set(forwardAs, asked);
};
