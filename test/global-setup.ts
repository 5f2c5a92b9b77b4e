import type { Server } from "node:http";
import type { TestProject } from "vitest/node";
import { startJwksServer } from "./harness/jwks-server.ts";
import { closedPort, startOrigin } from "./harness/origin.ts";

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Starts the real servers the Worker under test talks to (origin, identity provider) on free ports. */
export default async function setup(project: TestProject) {
  const origin = await startOrigin();
  const jwks = await startJwksServer();
  project.provide("originPort", origin.port);
  project.provide("closedPort", await closedPort());
  project.provide("jwksPort", jwks.port);
  return async () => {
    await Promise.all([stop(origin.server), stop(jwks.server)]);
  };
}
