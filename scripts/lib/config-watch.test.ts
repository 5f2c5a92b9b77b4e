/**
 * npm start's config watch on files of the test's own: rapid saves are one republish, a save
 * during a republish makes exactly one more, a save by rename is seen; a valid save is published
 * once, an unchanged one not at all, and a refused one prints its problems in one block and
 * publishes nothing.
 */
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type ConfigWatch, configRepublisher, loadConfigFile, type PublishAnswer, watchConfigFile } from "./config-watch.ts";

const SETTLE_MS = 50;
const validation = { allowPrivateUpstreams: true };
const config = (path: string) => ({
  clusters: { demo: { targets: [{ url: "http://127.0.0.1:8788" }] } },
  routes: [{ id: "r", match: { path }, cluster: "demo" }],
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

function configFile(document: unknown = config("/start")): string {
  const file = join(mkdtempSync(join(tmpdir(), "edgegate-watch-")), "config.json");
  writeFileSync(file, JSON.stringify(document));
  return file;
}

let watching: ConfigWatch | undefined;
afterEach(() => watching?.close());

describe("watchConfigFile", () => {
  it("acts once on a burst of saves, once they settle", async () => {
    const file = configFile();
    let runs = 0;
    watching = watchConfigFile(
      file,
      async () => {
        runs++;
      },
      SETTLE_MS,
    );
    for (let i = 0; i < 5; i++) {
      writeFileSync(file, JSON.stringify(config(`/burst-${i}`)));
      await sleep(5);
    }
    await until(() => runs > 0, "the first run");
    await sleep(3 * SETTLE_MS);
    expect(runs).toBe(1);
  });

  it("runs once more after a save made during a run, never two at once", async () => {
    const file = configFile();
    let runs = 0;
    let concurrent = 0;
    let most = 0;
    let finish: () => void = () => {};
    watching = watchConfigFile(
      file,
      async () => {
        runs++;
        most = Math.max(most, ++concurrent);
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
        concurrent--;
      },
      SETTLE_MS,
    );
    writeFileSync(file, JSON.stringify(config("/first")));
    await until(() => runs === 1, "the first run");
    writeFileSync(file, JSON.stringify(config("/second")));
    await sleep(2 * SETTLE_MS);
    writeFileSync(file, JSON.stringify(config("/third")));
    await sleep(2 * SETTLE_MS);
    expect(runs).toBe(1);
    finish();
    await until(() => runs === 2, "the run after it");
    finish();
    await sleep(3 * SETTLE_MS);
    expect(runs).toBe(2);
    expect(most).toBe(1);
  });

  it("sees a save that renames a new file over the old one, and ignores other files", async () => {
    const file = configFile();
    let runs = 0;
    watching = watchConfigFile(
      file,
      async () => {
        runs++;
      },
      SETTLE_MS,
    );
    writeFileSync(join(file, "..", "other.json"), "{}");
    await sleep(3 * SETTLE_MS);
    expect(runs).toBe(0);
    const temporary = join(file, "..", ".config.json.swp");
    writeFileSync(temporary, JSON.stringify(config("/renamed")));
    renameSync(temporary, file);
    await until(() => runs === 1, "a run after the rename");
  });
});

describe("configRepublisher", () => {
  function republisher(file: string, answers: PublishAnswer[] = []) {
    const published: unknown[] = [];
    const printed: string[] = [];
    const republish = configRepublisher({
      file,
      validation,
      published: { version: "v0", document: config("/start") },
      publish: async (document) => {
        published.push(document);
        return answers.shift() ?? { ok: true, version: `v${published.length}` };
      },
      print: (block) => printed.push(block),
    });
    return { republish, published, printed };
  }

  it("publishes a valid save once, and an unchanged save not at all", async () => {
    const file = configFile();
    const r = republisher(file);
    await r.republish();
    expect(r.published).toEqual([]);
    writeFileSync(file, JSON.stringify(config("/next"), null, 2));
    await r.republish();
    await r.republish();
    expect(r.published).toEqual([config("/next")]);
    expect(r.printed).toEqual([`published ${file} as version v1 (was v0); the gateway serves it from its next request`]);
  });

  it("prints a refused save's problems in one block, publishes nothing, and names the version still served", async () => {
    const file = configFile();
    const r = republisher(file);
    writeFileSync(file, JSON.stringify({ clusters: {}, routes: [{ id: "r", match: { path: "/x" }, cluster: "nope" }, { id: "r" }] }));
    await r.republish();
    expect(r.published).toEqual([]);
    expect(r.printed).toHaveLength(1);
    const block = (r.printed[0] as string).split("\n");
    expect(block[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: \\d+ problems$`));
    expect(block.slice(1, -1).every((line) => /^ {2}routes\[\d\]/.test(line))).toBe(true);
    expect(block.at(-1)).toBe(`${file}: not published; the gateway keeps serving v0`);

    writeFileSync(file, "{ not json");
    await r.republish();
    expect(r.printed[1]).toBe(
      `${file}:1:3: is not valid JSON: expected a property name in double quotes, found 'n'\n${file}: not published; the gateway keeps serving v0`,
    );
  });

  it("says what the gateway answered when it refuses or cannot be reached, and keeps the version it serves", async () => {
    const file = configFile();
    const r = republisher(file, [
      { ok: false, issues: [{ path: "routes[0]", message: "is wrong" }] },
      { ok: false, problem: "cannot reach http://127.0.0.1:8787" },
    ]);
    writeFileSync(file, JSON.stringify(config("/refused")));
    await r.republish();
    await r.republish();
    expect(r.printed).toEqual([
      `${file}: 1 problem\n  routes[0]: is wrong\n${file}: refused by the gateway; it keeps serving v0`,
      `${file}: not published: cannot reach http://127.0.0.1:8787; the gateway keeps serving v0`,
    ]);
  });

  it("reads YAML as the CLI does", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "edgegate-watch-")), "config.yaml");
    writeFileSync(
      file,
      "clusters:\n  demo:\n    targets: [{ url: 'http://127.0.0.1:8788' }]\nroutes:\n  - { id: r, match: { path: /y }, cluster: demo }\n",
    );
    expect(await loadConfigFile(file, validation)).toEqual({ ok: true, document: config("/y") });
  });
});
