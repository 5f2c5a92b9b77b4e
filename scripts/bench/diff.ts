/**
 * Config diff cost by table size: milliseconds to diff two configs of 1,000, 8,000 and 20,000 routes
 * (the schema's maximum) that differ as a real publish does. `POST /__gateway/admin/config/validate`
 * runs this diff inside the Worker, against its CPU limit; the CLI runs it before every publish.
 * `npm run bench:diff` runs only this measurement.
 */

import { diffConfigs } from "../../src/config/diff.ts";
import type { GatewayConfigInput } from "../../src/config/schema.ts";
import { median } from "./match.ts";
import { benchRoutes } from "./routes.ts";

export interface DiffResult {
  routes: number;
  /** Changes found, by kind: the check that both configs differ as intended. */
  changes: Record<string, number>;
  msPerDiff: number[];
}

type Route = GatewayConfigInput["routes"][number];

/**
 * A published config and its next version: one route in 100 edited (a timeout added, a path changed,
 * or moved to a new cluster), one in 100 removed, one in 100 added (spread through the table), and
 * one in 1,000 moved to the end; one cluster added.
 */
export function diffPair(n: number): { before: GatewayConfigInput; after: GatewayConfigInput } {
  const before = benchRoutes(n, "https://origin.example.com");
  const after = structuredClone(before);
  after.clusters.backup = { targets: [{ url: "https://backup.example.com" }] };
  const routes: Route[] = [];
  const movedToEnd: Route[] = [];
  for (const [i, route] of after.routes.entries()) {
    if (i % 100 === 13) continue;
    if (i % 100 === 7) {
      if (i % 300 === 7) route.timeoutMs = 2_000;
      else if (i % 300 === 107) route.match.path = `/v2${route.match.path}`;
      else route.cluster = "backup";
    }
    if (i % 100 === 50) routes.push({ id: `new${i}`, match: { path: `/new${i}/*` }, cluster: "backup" } as Route);
    if (i % 1_000 === 500) movedToEnd.push(route);
    else routes.push(route);
  }
  after.routes = [...routes, ...movedToEnd] as GatewayConfigInput["routes"];
  return { before, after };
}

export function measureDiff(sizes: number[], runs = 5): DiffResult[] {
  return sizes.map((size) => {
    const { before, after } = diffPair(size);
    // Round trips through JSON, as the Worker and the CLI diff parsed documents that share nothing.
    const [a, b] = [JSON.parse(JSON.stringify(before)), JSON.parse(JSON.stringify(after))] as const;
    const changes: Record<string, number> = {};
    for (const change of diffConfigs(a, b)) changes[change.kind] = (changes[change.kind] ?? 0) + 1;
    if (!changes.moved || !changes.added || !changes.removed || !changes.changed)
      throw new Error(`diff missed a kind: ${JSON.stringify(changes)}`);
    const msPerDiff: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      diffConfigs(a, b);
      msPerDiff.push(performance.now() - started);
    }
    return { routes: size, changes, msPerDiff };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of measureDiff([1_000, 8_000, 20_000])) {
    console.log(
      `${r.routes} routes: ${median(r.msPerDiff).toFixed(1)} ms per diff (${r.msPerDiff.map((x) => x.toFixed(1)).join(", ")}); changes ${JSON.stringify(r.changes)}`,
    );
  }
}
