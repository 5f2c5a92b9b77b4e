import { describe, expect, it } from "vitest";
import { begin, complete, parseIdempotencyKey, type StoredAnswer } from "./record.ts";

const answer: StoredAnswer = {
  status: 201,
  statusText: "Created",
  headers: [["content-type", "application/json"]],
  body: new ArrayBuffer(2),
};
const LEASE = 1_000;
const TTL = 60_000;

describe("idempotency records", () => {
  it("lets the first request through, holds duplicates while it runs, then replays its answer", () => {
    const first = begin(undefined, "f1", 0, LEASE, TTL);
    expect(first.outcome.kind).toBe("first");
    expect(begin(first.record, "f1", 10, LEASE, TTL).outcome.kind).toBe("in-progress");
    const done = complete(first.record, "f1", answer, 20, TTL);
    const replay = begin(done, "f1", 30, LEASE, TTL);
    expect(replay.outcome).toEqual({ kind: "replay", answer });
  });

  it("refuses the key with a different request, in progress or completed", () => {
    const first = begin(undefined, "f1", 0, LEASE, TTL);
    expect(begin(first.record, "f2", 10, LEASE, TTL).outcome.kind).toBe("mismatch");
    const done = complete(first.record, "f1", answer, 20, TTL);
    expect(begin(done, "f2", 30, LEASE, TTL).outcome.kind).toBe("mismatch");
  });

  it("releases the key when the first request's answer is not kept, so a retry runs", () => {
    const first = begin(undefined, "f1", 0, LEASE, TTL);
    expect(complete(first.record, "f1", null, 20, TTL)).toBeUndefined();
  });

  it("frees a key whose holder's lease ran out, and forgets a completed key after its TTL", () => {
    const stuck = begin(undefined, "f1", 0, LEASE, TTL).record;
    expect(begin(stuck, "f1", LEASE + 1, LEASE, TTL).outcome.kind).toBe("first");
    const done = complete(begin(undefined, "f1", 0, LEASE, TTL).record, "f1", answer, 10, TTL);
    expect(begin(done, "f2", 10 + TTL, LEASE, TTL).outcome.kind).toBe("first");
  });

  it("does not let a late finisher overwrite a record it no longer holds", () => {
    const done = complete(begin(undefined, "f1", 0, LEASE, TTL).record, "f1", answer, 10, TTL);
    expect(complete(done, "f1", null, 20, TTL)).toBe(done);
  });

  it("parses quoted and bare keys and refuses malformed ones", () => {
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe("8e03978e-40d5-43e8-bc93-6894a57f9324");
    expect(parseIdempotencyKey("order-42")).toBe("order-42");
    expect(parseIdempotencyKey('""')).toBeNull();
    expect(parseIdempotencyKey("x".repeat(256))).toBeNull();
    expect(parseIdempotencyKey("bad\u0001key")).toBeNull();
  });
});
