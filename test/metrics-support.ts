/**
 * Reads the fleet's metrics as a scraper does: GET /__gateway/admin/metrics in the Prometheus text
 * format, parsed into samples by their series (`name{labels}`), with the family types seen.
 */
import { ADMIN_TOKEN } from "./admin-support.ts";
import { gateway } from "./support.ts";

export interface Scrape {
  samples: Map<string, number>;
  /** Family name to its TYPE. */
  types: Map<string, string>;
  response: Response;
  text: string;
}

/** One scrape of the admin metrics (text format unless `init` asks otherwise). */
export async function scrape(query = "", headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await gateway(`/__gateway/admin/metrics${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers } });
  const text = await response.text();
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      types.set(name as string, type as string);
    } else if (line !== "" && !line.startsWith("#")) {
      const at = line.lastIndexOf(" ");
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return { samples, types, response, text };
}

/** The sum of the samples of family `name` whose labels include every pair of `labels`. */
export function sumOf(samples: ReadonlyMap<string, number>, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const [series, value] of samples) {
    if (!(series === name || series.startsWith(`${name}{`))) continue;
    if (wanted.every((pair) => series.includes(pair))) total += value;
  }
  return total;
}

/** Scrapes until `family{labels}` sums to at least `atLeast` (background counts land a little later); returns the last scrape. */
export async function scrapeUntil(name: string, labels: Record<string, string>, atLeast: number, timeoutMs = 10_000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await scrape();
    if (sumOf(last.samples, name, labels) >= atLeast || Date.now() > deadline) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
