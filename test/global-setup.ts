import type { Server } from "node:http";
import type { TestProject } from "vitest/node";
import { startLocalUpstash } from "../scripts/lib/local-upstash.ts";
import { startJwksServer } from "./harness/jwks-server.ts";
import { closedPort, startOrigin } from "./harness/origin.ts";
import { startOtlpReceiver } from "./harness/otlp-receiver.ts";
import { ensureTestRunPackages } from "./harness/system-packages.ts";
import { startWsOrigin } from "./harness/ws-origin.ts";

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Starts the real servers the Worker under test talks to (origin, identity provider, Redis) on free
 * ports, once the Debian packages they need are there. If any fails to start, those already started
 * are stopped before the error goes up: Vitest runs no teardown for a setup that threw, and a
 * listening server would keep its process from exiting.
 */
export default async function setup(project: TestProject) {
  await ensureTestRunPackages(project);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => void (await Promise.all(stops.map((each) => each())));
  try {
    const origin = await startOrigin();
    stops.push(() => stop(origin.server));
    const jwks = await startJwksServer();
    stops.push(() => stop(jwks.server));
    const wsOrigin = await startWsOrigin();
    stops.push(() => stop(wsOrigin.server));
    const otlp = await startOtlpReceiver();
    stops.push(() => stop(otlp.server));
    // Port and token were chosen by vitest.config.ts, which gave them to the Worker's bindings.
    const upstash = await startLocalUpstash({
      port: Number(process.env.EDGEGATE_TEST_UPSTASH_PORT),
      redisPort: await closedPort(),
      token: process.env.EDGEGATE_TEST_UPSTASH_TOKEN,
    });
    stops.push(() => upstash.close());
    project.provide("originPort", origin.port);
    project.provide("closedPort", await closedPort());
    project.provide("jwksPort", jwks.port);
    project.provide("wsOriginPort", wsOrigin.port);
    project.provide("otlpPort", otlp.port);
    project.provide("upstashUrl", upstash.url);
  } catch (error) {
    await stopAll();
    throw error;
  }
  return stopAll;
}
