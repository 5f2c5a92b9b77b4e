import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PublishOutcome } from "./config-publisher.ts";

const config = (path: string) => ({
  clusters: { c: { targets: [{ url: "https://c.example.com" }] } },
  routes: [{ id: "r", match: { path }, cluster: "c" }],
});

function stub() {
  const namespace = env.CONFIG_PUBLISHER;
  if (namespace === undefined) throw new Error("CONFIG_PUBLISHER binding missing");
  return namespace.get(namespace.idFromName(`test:${crypto.randomUUID()}`));
}

describe("ConfigPublisher: the order of its pointer moves", () => {
  it("numbers each publish and rollback it makes, in order, across eviction; a refused one gets no number", async () => {
    const publisher = stub();
    const first = (await publisher.publish(config("/one"), { kind: "any" }, "publish", null)) as PublishOutcome;
    const second = (await publisher.publish(config("/two"), { kind: "any" }, "publish", null)) as PublishOutcome;
    if (first.kind !== "published" || second.kind !== "published") throw new Error("not published");
    expect(second.sequence).toBe(first.sequence + 1);
    expect(second.previous).toBe(first.version);

    const conflict = (await publisher.publish(
      config("/three"),
      { kind: "version", version: first.version },
      "publish",
      null,
    )) as PublishOutcome;
    expect(conflict).toEqual({ kind: "conflict", current: second.version });

    await evictDurableObject(publisher);
    const back = (await publisher.rollback(first.version, { kind: "version", version: second.version })) as PublishOutcome;
    expect(back).toMatchObject({ kind: "published", version: first.version, previous: second.version, sequence: second.sequence + 1 });
  });
});
