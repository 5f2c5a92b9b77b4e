/**
 * Micro-benchmarks inside workerd (scripts/bench/auth-worker.ts): CPU per JWT verification, and
 * what the authenticate stage adds to a request. CPU comes from the workerd process (utime+stime)
 * around one request that repeats the operation N times, so no network or load generator is in it.
 */
import { median } from "./match.ts";
import { cpuMicros } from "./tools.ts";

export interface VerifyResult {
  name: string;
  n: number;
  usPerOp: number[];
}

/**
 * What the cached-token path adds to a request, inside workerd: N requests through a Hono app of
 * the real authenticate stage on a route without auth, then on one with a cached JWT, alternating;
 * CPU per request of each from the workerd process. No network, so the difference is the stage alone.
 */
export async function measureStage(
  base: string,
  workerd: number,
  runs: number,
  scale = 1,
): Promise<{ n: number; plainUs: number[]; jwtUs: number[] }> {
  const n = Math.round(30_000 * scale);
  const plainUs: number[] = [];
  const jwtUs: number[] = [];
  for (let run = 0; run < runs; run++) {
    for (const [auth, into] of [
      ["0", plainUs],
      ["1", jwtUs],
    ] as const) {
      await (await fetch(`${base}/stage?auth=${auth}&n=${n / 20}`)).text();
      const before = cpuMicros(workerd);
      const body = (await (await fetch(`${base}/stage?auth=${auth}&n=${n}`)).json()) as { outcomes: { valid: number } };
      into.push((cpuMicros(workerd) - before) / n);
      if (body.outcomes.valid !== n) throw new Error(`stage auth=${auth}: ${JSON.stringify(body)}`);
    }
  }
  console.log(`authenticate stage: ${median(plainUs).toFixed(1)} us without auth, ${median(jwtUs).toFixed(1)} us with a cached JWT`);
  return { n, plainUs, jwtUs };
}

/** CPU per verification inside workerd: the process's CPU over one request that verifies `n` tokens. */
export async function measureVerify(base: string, workerd: number, runs: number, scale = 1): Promise<VerifyResult[]> {
  await (await fetch(`${base}/prepare`)).text();
  const cases = [
    // N is set so each run takes over a second of CPU: /proc reports CPU time in 10 ms ticks.
    { name: "es256-full", label: "ES256, full verification (cached key, token cache off)", n: 10_000 },
    { name: "es256-webcrypto", label: "ES256, crypto.subtle.verify alone (the floor under any verifier)", n: 10_000 },
    { name: "rs256-full", label: "RS256, full verification (cached key, token cache off)", n: 10_000 },
    { name: "es256-cache-hit", label: "ES256, verified-token cache hit", n: 200_000 },
    { name: "junk", label: "junk rejected (64 KiB, 2 segments, non-base64url, bad header)", n: 200_000 },
  ];
  const results: VerifyResult[] = [];
  for (const c of cases.map((x) => ({ ...x, n: Math.round(x.n * scale) }))) {
    await (await fetch(`${base}/run?case=${c.name}&n=${Math.ceil(c.n / 10)}`)).text(); // warm-up
    const usPerOp: number[] = [];
    for (let run = 0; run < runs; run++) {
      const before = cpuMicros(workerd);
      const body = (await (await fetch(`${base}/run?case=${c.name}&n=${c.n}`)).json()) as { outcomes: Record<string, number> };
      usPerOp.push((cpuMicros(workerd) - before) / c.n);
      const expected = c.name === "junk" ? "invalid" : "valid";
      if (body.outcomes[expected] !== c.n) throw new Error(`${c.name}: unexpected outcomes ${JSON.stringify(body.outcomes)}`);
    }
    results.push({ name: c.label, n: c.n, usPerOp });
    console.log(`verify ${c.name}: ${median(usPerOp).toFixed(1)} us/op`);
  }
  return results;
}
