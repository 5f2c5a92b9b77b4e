/**
 * Claim headers carry a verified claim byte for byte or not at all: a value the upstream would
 * receive altered (trimmed by the runtime, split, re-encoded, rounded) is left out, never repaired.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { authConfig, newSigner, publishKeys, type Signer } from "../auth-support.ts";
import { applyConfig, gateway } from "../support.ts";

interface Echo {
  headers: Record<string, string>;
  rawHeaders: string[];
}

const set = `claim-headers-${crypto.randomUUID()}`;
let signer: Signer;

/** What the origin received for `x-claim`, as every raw field of that name. */
async function forwarded(claim: unknown): Promise<string[]> {
  const token = await signer.sign({ sub: "user-1", claim });
  const response = await gateway("/secure/x", { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  const { rawHeaders } = (await response.json()) as Echo;
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === "x-claim") values.push(rawHeaders[i + 1] as string);
  return values;
}

beforeAll(async () => {
  signer = await newSigner("ES256");
  await publishKeys(set, [signer.publicJwk]);
  await applyConfig(authConfig(set, { claimHeaders: { claim: "x-claim" } }, { jwks: { cooldownSec: 3600 } }));
});

describe("claim headers: values that cannot be forwarded as they are", () => {
  it.each([
    ["a leading space", " alice"],
    ["a trailing space", "alice "],
    ["spaces around", " alice "],
    ["a trailing tab", "alice\t"],
    ["a leading tab", "\talice"],
    ["only whitespace", " \t "],
    ["the empty string", ""],
    ["CR LF", "alice\r\nx-admin: true"],
    ["a bare LF", "alice\nx"],
    ["a bare CR", "alice\rx"],
    ["NUL", "alice\u0000admin"],
    ["another C0 control", "alice\u0001"],
    ["DEL", "alice\u007f"],
    ["a Latin-1 letter", "J\u00fcrgen"],
    ["a line separator", "alice\u2028admin"],
    ["an emoji", "alice\u{1f600}"],
    ["a value over 4096 bytes", "a".repeat(4_097)],
  ])("leaves out a string with %s", async (_, value) => {
    expect(await forwarded(value)).toEqual([]);
  });

  it.each([
    ["an object", { role: "admin" }],
    ["null", null],
    ["an empty array", []],
    ["a nested array", [["admin"]]],
    ["an array holding an object", [{ role: "admin" }]],
    ["an array holding null", ["a", null]],
    ["an array with an empty element", ["admin", ""]],
    ["an array with a padded element", ["admin", " ops"]],
    ["an array element holding a comma (it would read as two)", ["viewer, admin"]],
    ["an array element holding a quote", ['a"b']],
    ["an array element with a control character", ["a\nb"]],
    ["an integer past 2^53 (rounded when parsed)", 2 ** 53 + 2],
  ])("leaves out %s", async (_, value) => {
    expect(await forwarded(value)).toEqual([]);
  });

  it("never lets the client's own header through in place of a left-out claim", async () => {
    const token = await signer.sign({ sub: "user-1", claim: " admin " });
    const response = await gateway("/secure/x", { headers: { authorization: `Bearer ${token}`, "x-claim": "admin" } });
    expect(((await response.json()) as Echo).headers["x-claim"]).toBeUndefined();
  });
});

describe("claim headers: values forwarded byte for byte", () => {
  it.each([
    ["a plain string", "alice", "alice"],
    ["inner spaces and tabs", "Alice B.\tSmith", "Alice B.\tSmith"],
    ["every printable ASCII character", "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"],
    ["4096 bytes exactly", "a".repeat(4_096), "a".repeat(4_096)],
    ["an integer", 42, "42"],
    ["a negative number with a fraction", -1.5, "-1.5"],
    ["the largest safe integer", 2 ** 53 - 1, "9007199254740991"],
    ["true", true, "true"],
    ["false", false, "false"],
    ["a flat array", ["admin", "ops"], "admin, ops"],
    ["a mixed flat array", ["a", 1, false], "a, 1, false"],
  ])("forwards %s", async (_, value, expected) => {
    expect(await forwarded(value)).toEqual([expected]);
  });
});
