/**
 * Free loopback ports for the local servers the dev stack, the tests and the benchmarks start.
 */
import { createServer } from "node:net";

/** A tuple of `N` ports, so a caller can destructure exactly the ports it asked for. */
type Ports<N extends number, Chosen extends number[] = []> = Chosen["length"] extends N ? Chosen : Ports<N, [...Chosen, number]>;

/** `count` distinct free ports: all are held open until every one is chosen, so none repeats. */
export async function freePorts<N extends number>(count: N): Promise<Ports<N>> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((done, fail) => {
          const server = createServer();
          server.once("error", fail);
          server.listen(0, "127.0.0.1", () => done(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  return ports as Ports<N>;
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}
