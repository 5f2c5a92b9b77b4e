/**
 * The admin API's gate: a bearer token held as the ADMIN_TOKEN secret. Without the secret the
 * surface does not exist (404), so a deployment that never sets it exposes nothing.
 */
import type { Context, Next } from "hono";
import { GatewayError } from "../../errors.ts";
import type { AppEnv } from "../../variables.ts";

const encoder = new TextEncoder();

/** Compares digests, so neither the token's length nor a matching prefix shows in the timing. */
async function sameSecret(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/**
 * The token a request presents: a Bearer token (API clients, the CLI) or, for browsers on the
 * status page, the password of Basic credentials (RFC 7617; the user name is ignored).
 */
function presentedToken(header: string): string | null {
  const bearer = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  if (bearer) return bearer[1] as string;
  const basic = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return null;
  let decoded: string;
  try {
    decoded = atob(basic[1] as string);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  return colon === -1 ? null : decoded.slice(colon + 1);
}

export async function adminAuth(c: Context<AppEnv>, next: Next): Promise<void> {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new GatewayError("route-not-found");
  const presented = presentedToken(c.req.header("authorization") ?? "");
  if (presented === null || !(await sameSecret(presented, expected))) {
    throw new GatewayError("unauthorized", "The admin API needs the admin bearer token.", {
      // Basic first: browsers take the first scheme they support; API clients just send the bearer token.
      "www-authenticate": 'Basic realm="edgegate-admin", charset="UTF-8", Bearer realm="edgegate-admin"',
    });
  }
  await next();
}
