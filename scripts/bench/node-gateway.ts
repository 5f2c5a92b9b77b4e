/**
 * A Node.js gateway as a TypeScript team would write it: Fastify with @fastify/http-proxy
 * (undici, keepalive to the upstream), and with JWKS set, an onRequest hook verifying ES256 bearer
 * tokens with jose against a local key set (no verified-token cache), forwarding `sub` as
 * X-User-Id. Run by the benchmark; PORT, ORIGIN, and optionally JWKS, ISSUER, AUDIENCE from the env.
 */
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";
import { createLocalJWKSet, jwtVerify } from "jose";

const port = Number(process.env.PORT);
const origin = process.env.ORIGIN as string;
const app = Fastify({ logger: false });

if (process.env.JWKS) {
  const keys = createLocalJWKSet(JSON.parse(process.env.JWKS));
  const options = { issuer: process.env.ISSUER, audience: process.env.AUDIENCE, algorithms: ["ES256"], requiredClaims: ["exp"] };
  app.addHook("onRequest", async (request, reply) => {
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? "")?.[1];
    if (!token) return reply.code(401).send();
    try {
      const { payload } = await jwtVerify(token, keys, options);
      request.headers["x-user-id"] = String(payload.sub);
      delete request.headers.authorization;
    } catch {
      return reply.code(401).send();
    }
  });
}

await app.register(proxy, { upstream: origin });
await app.listen({ port, host: "127.0.0.1" });
