/** Values the global setup provides to tests: ports of the servers it started. */
declare module "vitest" {
  interface ProvidedContext {
    originPort: number;
    closedPort: number;
    jwksPort: number;
    /** The WebSocket origin (test/harness/ws-origin.ts). */
    wsOriginPort: number;
    /** The OTLP/HTTP traces receiver (test/harness/otlp-receiver.ts). */
    otlpPort: number;
    /** The local Upstash REST endpoint; `/__control/redis/{stop,start}` steers its Redis. */
    upstashUrl: string;
    /** End-to-end tests: the gateway bundle served by workerd, and its admin token. */
    e2eGatewayUrl: string;
    e2eAdminToken: string;
  }
}

export {};
