import type { Server } from "node:http";
import type { TestProject } from "vitest/node";
import { startLocalUpstash } from "../scripts/lib/local-upstash.ts";
import { startJwksServer } from "./harness/jwks-server.ts";
import { closedPort, startOrigin } from "./harness/origin.ts";

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Starts the real servers the Worker under test talks to (origin, identity provider, Redis) on free ports. */
export default async function setup(project: TestProject) {
  const origin = await startOrigin();
  const jwks = await startJwksServer();
  // Port and token were chosen by vitest.config.ts, which gave them to the Worker's bindings.
  const upstash = await startLocalUpstash({
    port: Number(process.env.EDGEGATE_TEST_UPSTASH_PORT),
    redisPort: await closedPort(),
    token: process.env.EDGEGATE_TEST_UPSTASH_TOKEN,
  });
  project.provide("originPort", origin.port);
  project.provide("closedPort", await closedPort());
  project.provide("jwksPort", jwks.port);
  project.provide("upstashUrl", upstash.url);
  return async () => {
    await Promise.all([stop(origin.server), stop(jwks.server), upstash.close()]);
  };
}
