import { describe, expect, it } from "vitest";
import { fetcherBinding } from "./bindings.ts";

describe("fetcherBinding", () => {
  it("gives a binding with a fetch method, and null for anything else a deployment binds", () => {
    const service = { fetch: async () => new Response("ok") };
    const env = {
      CERT: service,
      SECRET: "a secret",
      FLAG: "true",
      KV: { get: async () => null, put: async () => {} },
      NOTHING: null,
      NOT_A_METHOD: { fetch: "no" },
    };
    expect(fetcherBinding(env, "CERT")).toBe(service);
    for (const name of ["SECRET", "FLAG", "KV", "NOTHING", "NOT_A_METHOD", "ABSENT", "constructor", "__proto__", "toString"]) {
      expect(fetcherBinding(env, name)).toBeNull();
    }
  });
});
