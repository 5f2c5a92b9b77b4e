import type { TestProject } from "vitest/node";
import { closedPort, startOrigin } from "./harness/origin.ts";

/** Starts the real origin servers the Worker under test proxies to, on free ports. */
export default async function setup(project: TestProject) {
  const origin = await startOrigin();
  project.provide("originPort", origin.port);
  project.provide("closedPort", await closedPort());
  return async () => {
    origin.server.closeAllConnections();
    await new Promise<void>((resolve) => origin.server.close(() => resolve()));
  };
}
