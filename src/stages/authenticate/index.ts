/**
 * Stage 3: who is calling. On a route with `auth`, the caller must present a valid API key or JWT;
 * the identity, and the claim headers the route forwards, are handed to later stages. Routes
 * without `auth` pass straight through.
 */
import { createMiddleware } from "hono/factory";
import { GatewayError } from "../../errors.ts";
import type { CompiledAuth } from "../../lib/auth/config.ts";
import { claimHeaderValue, findToken } from "../../lib/credentials.ts";
import type { HeaderPairs } from "../../lib/headers.ts";
import type { Identity } from "../../lib/identity.ts";
import type { JwtState, RouteRuntime } from "../../runtime/isolate-runtime.ts";
import type { ApiKeyResolver } from "../../services/api-keys/resolver.ts";
import type { AppEnv } from "../../variables.ts";
import { verifyJwt } from "./jwt.ts";

const REALM = 'realm="edgegate"';

/** RFC 6750 section 3: a challenge per method the route accepts; error codes only when a credential was sent. */
function challenges(auth: CompiledAuth, error?: { code: string; description?: string; scope?: string }): string {
  const params = [REALM];
  if (error) {
    params.push(`error="${error.code}"`);
    if (error.description) params.push(`error_description="${error.description.replace(/["\\]/g, "")}"`);
    if (error.scope) params.push(`scope="${error.scope}"`);
  }
  const out: string[] = [];
  if (auth.jwt) out.push(`Bearer ${params.join(", ")}`);
  if (auth.apiKey) out.push(`ApiKey ${REALM}, header="${auth.apiKey.header}"`);
  return out.join(", ");
}

function unauthorized(auth: CompiledAuth, detail: string, invalidToken: boolean): GatewayError {
  return new GatewayError("unauthorized", detail, {
    "www-authenticate": challenges(auth, invalidToken ? { code: "invalid_token", description: detail } : undefined),
  });
}

async function identify(
  auth: CompiledAuth,
  runtime: RouteRuntime,
  request: Request,
  env: AppEnv["Bindings"],
  waitUntil: (p: Promise<unknown>) => void,
) {
  const headers = request.headers;
  if (auth.apiKey) {
    const key = headers.get(auth.apiKey.header);
    if (key !== null) {
      const resolved = await (runtime.apiKeys as ApiKeyResolver).resolve(env.CONFIG, key.trim(), auth.apiKey.cacheTtlMs);
      if (resolved.kind === "unavailable") {
        throw new GatewayError("auth-unavailable", "API keys cannot be checked right now.", { "retry-after": "5" });
      }
      if (resolved.kind === "invalid") throw unauthorized(auth, "The API key is not valid.", false);
      const { record } = resolved;
      return {
        method: "api-key",
        subject: record.consumer,
        consumer: record.consumer,
        scopes: new Set(record.scopes),
        claims: { sub: record.consumer, scope: record.scopes.join(" ") },
        rateLimitKey: record.rateLimitKey ?? record.consumer,
      } satisfies Identity;
    }
  }
  if (auth.jwt) {
    const found = findToken(auth.tokenSource, headers, request.url);
    if (found.kind === "token") {
      const outcome = await verifyJwt(found.token, auth.jwt, runtime.jwt as JwtState, waitUntil);
      if (outcome.kind === "unavailable") {
        throw new GatewayError("auth-unavailable", "The identity provider's keys cannot be loaded right now.", { "retry-after": "5" });
      }
      if (outcome.kind === "invalid") throw unauthorized(auth, outcome.reason, true);
      return outcome.identity;
    }
  }
  throw unauthorized(auth, "This route requires authentication.", false);
}

export const authenticate = createMiddleware<AppEnv>(async function authenticate(c, next) {
  const auth = c.get("route").auth;
  if (auth === null) return next();

  const record = c.get("record");
  record.auth = "refused";
  const identity = await identify(auth, c.get("routeRuntime"), c.req.raw, c.env, (p) => c.executionCtx.waitUntil(p));
  if (auth.scopes.length > 0 && !auth.scopes.every((scope) => identity.scopes.has(scope))) {
    const scope = auth.scopes.join(" ");
    throw new GatewayError("forbidden", "The credential lacks a scope this route requires.", {
      "www-authenticate": challenges(auth, { code: "insufficient_scope", scope }),
    });
  }

  if (auth.claimHeaders.length > 0) {
    const pairs: HeaderPairs = [];
    for (const [claim, header] of auth.claimHeaders) {
      const value = claimHeaderValue(identity.claims[claim]);
      if (value !== undefined) pairs.push([header, value]);
    }
    c.set("identityHeaders", pairs);
  }
  c.set("identity", identity);
  record.auth = identity.method;
  record.consumer = identity.subject;
  await next();
});
