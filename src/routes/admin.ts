/**
 * /__gateway/admin/*: the operator's surface, behind a bearer token held as the ADMIN_TOKEN
 * secret. Without the secret the surface does not exist (404), so a deployment that never sets
 * it exposes nothing.
 */
import type { Context, Next } from "hono";
import type { AppEnv } from "../env.ts";
import { GatewayError } from "../errors.ts";
import { counterSnapshot } from "../lib/metrics.ts";

const encoder = new TextEncoder();

/** Compares digests, so neither the token's length nor a matching prefix shows in the timing. */
async function sameSecret(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

export async function adminAuth(c: Context<AppEnv>, next: Next): Promise<void> {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new GatewayError("route-not-found");
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  if (match === null || !(await sameSecret(match[1] as string, expected))) {
    throw new GatewayError("unauthorized", "The admin API needs the admin bearer token.", {
      "www-authenticate": 'Bearer realm="edgegate-admin"',
    });
  }
  await next();
}

/** GET /__gateway/admin/metrics: this isolate's counters. */
export function metrics(c: Context<AppEnv>): Response {
  return c.json({ isolateCounters: counterSnapshot() }, 200, { "cache-control": "no-store", "x-request-id": c.get("requestId") });
}
