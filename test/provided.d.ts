/** Values the global setup provides to tests: ports of the servers it started. */
declare module "vitest" {
  interface ProvidedContext {
    originPort: number;
    closedPort: number;
    jwksPort: number;
    /** The local Upstash REST endpoint; `/__control/redis/{stop,start}` steers its Redis. */
    upstashUrl: string;
  }
}

export {};
