/**
 * The user policy adapter: what a user's function may return and what each return becomes, every
 * way it can break the contract (each a PolicyFailure, for the stage to answer as policy-failed),
 * the deadline of a call, and the context it is handed. Through the Worker:
 * test/integration/policies.custom.test.ts.
 */
import { describe, expect, it } from "vitest";
import { linesDuring } from "../../../test/log-capture.ts";
import type { Identity } from "../identity.ts";
import type { InboundPolicy, OutboundPolicy, PolicyContext, PolicyModule } from "./contract.ts";
import { compileCustom, DEFAULT_POLICY_TIMEOUT_MS, failureFields, PolicyFailure, thrownFields } from "./custom.ts";
import type { InboundOutcome, OutboundOutcome, PolicyRequest } from "./types.ts";

const URL_ = "https://gw.example.com/orders/7?x=1";

function at(request = new Request(URL_, { headers: { "x-tenant": "acme" } }), identity?: Identity): PolicyRequest {
  return {
    request,
    clientIp: "203.0.113.7",
    requestId: "req-1",
    routeId: "orders",
    params: { id: "7" },
    identity,
    env: { SECRET: "s3cret" },
    waitUntil: () => {},
  };
}

function inbound(policy: InboundPolicy, options: unknown = {}, timeoutMs?: number) {
  return (request?: Request) =>
    compileCustom("p", { inbound: policy }, options, timeoutMs).inbound?.(at(request)) as Promise<InboundOutcome>;
}

function outbound(policy: OutboundPolicy, timeoutMs?: number) {
  return (response: Response) =>
    compileCustom("p", { outbound: policy }, {}, timeoutMs).outbound?.({ ...at(), response }) as Promise<OutboundOutcome>;
}

/** The failure a call ended with, asserted to be the policy's. */
async function failure(work: Promise<unknown>): Promise<PolicyFailure> {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(PolicyFailure);
  expect((error as PolicyFailure).policy).toBe("p");
  return error as PolicyFailure;
}

describe("a user policy's directions", () => {
  it("runs late inbound and outbound where its module exports the function", () => {
    const both = compileCustom("p", { inbound: () => {}, outbound: () => {} }, {});
    expect(both.phase).toBe("late");
    expect(both.inbound).toBeTypeOf("function");
    expect(both.outbound).toBeTypeOf("function");
  });

  it("fails, rather than being skipped, where it is listed and its module cannot act, or where no module is bundled", async () => {
    const inboundOnly = compileCustom("p", { inbound: () => {} }, {});
    expect((await failure(Promise.resolve(inboundOnly.outbound?.({ ...at(), response: new Response("x") })))).message).toBe(
      "is listed outbound, but its module exports no outbound function",
    );
    // Exports that are not functions (a default export, a value) act in no direction.
    const misshapen = compileCustom("p", { inbound: "yes", default: { inbound: () => {} } } as unknown as PolicyModule, {});
    expect((await failure(Promise.resolve(misshapen.inbound?.(at())))).message).toBe(
      "is listed inbound, but its module exports no inbound function",
    );
    const missing = compileCustom("p", undefined, {});
    expect(missing.phase).toBe("late");
    for (const step of [missing.inbound?.(at()), missing.outbound?.({ ...at(), response: new Response("x") })]) {
      expect((await failure(Promise.resolve(step))).message).toBe("names a module this deployment does not bundle");
    }
  });
});

describe("what an inbound policy returns", () => {
  it("nothing, and no change: continued", async () => {
    expect(await inbound(() => {})()).toEqual({ kind: "continue", decision: "continued" });
  });

  it("a Response: the answer, as it is", async () => {
    const answer = new Response("no", { status: 403 });
    expect(await inbound(() => answer)()).toEqual({ kind: "respond", decision: "responded", response: answer });
  });

  it("nothing, with headers edited in place: those edits, and every client spelling of a field it set goes", async () => {
    const outcome = await inbound((request) => {
      request.headers.set("x-tenant-id", "acme");
      request.headers.delete("x-debug");
    })(new Request(URL_, { headers: { "x-tenant-id": "forged", x_tenant_id: "forged", "x-debug": "1", x_debug: "1", accept: "*/*" } }));
    expect(outcome).toMatchObject({ kind: "continue", decision: "edited" });
    const edits = (outcome as Extract<InboundOutcome, { kind: "continue" }>).editRequest;
    expect(edits?.set).toEqual([["x-tenant-id", "acme"]]);
    expect(new Set(edits?.remove)).toEqual(new Set(["x-tenant-id", "x-debug"]));
  });

  it("a Request with other headers: the difference, as edits", async () => {
    const outcome = await inbound((request) => {
      const headers = new Headers(request.headers);
      headers.set("x-added", "1");
      headers.delete("x-tenant");
      return new Request(request, { headers });
    })();
    expect(outcome).toEqual({
      kind: "continue",
      decision: "edited",
      editRequest: { set: [["x-added", "1"]], remove: ["x-added", "x-tenant"] },
    });
  });

  it("a field removed in one spelling keeps the policy's untouched plain spelling of it", async () => {
    const outcome = await inbound((request) => {
      request.headers.delete("x_tenant");
    })(new Request(URL_, { headers: { "x-tenant": "acme", x_tenant: "evil" } }));
    expect(outcome).toEqual({ kind: "continue", decision: "edited", editRequest: { set: [["x-tenant", "acme"]], remove: ["x-tenant"] } });
  });

  it("Content-Length is the body's: a policy's edits of it are passed over", async () => {
    const outcome = await inbound((request) => {
      request.headers.set("content-length", "1");
    })(new Request(URL_, { method: "POST", body: "twelve bytes", headers: { "content-length": "12" } }));
    expect(outcome).toEqual({ kind: "continue", decision: "continued" });
  });

  it("sees the method, URL and headers, never the body", async () => {
    let seen: { method: string; url: string; tenant: string | null; body: string } | undefined;
    const outcome = await inbound(async (request) => {
      seen = { method: request.method, url: request.url, tenant: request.headers.get("x-tenant"), body: await request.text() };
    })(new Request(URL_, { method: "POST", body: "the client's", headers: { "x-tenant": "acme" } }));
    expect(seen).toEqual({ method: "POST", url: URL_, tenant: "acme", body: "" });
    expect(outcome.decision).toBe("continued");
  });

  it.each([
    ["a number", () => 42, "returned a number where a Request, a Response or nothing (undefined) is allowed"],
    ["a string", () => "ok", "returned a string where a Request, a Response or nothing (undefined) is allowed"],
    ["null", () => null, "returned null where a Request, a Response or nothing (undefined) is allowed"],
    ["false", () => false, "returned a boolean where a Request, a Response or nothing (undefined) is allowed"],
    ["an object", () => ({ status: 403 }), "returned an object (Object) where a Request, a Response or nothing (undefined) is allowed"],
    ["Headers", () => new Headers(), "returned an object (Headers) where a Request, a Response or nothing (undefined) is allowed"],
    ["an array", () => [], "returned an array where a Request, a Response or nothing (undefined) is allowed"],
    ["a function", () => () => {}, "returned a function where a Request, a Response or nothing (undefined) is allowed"],
  ])("returning %s is a failure that says what it returned", async (_, policy, message) => {
    const failed = await failure(inbound(policy as unknown as InboundPolicy)());
    expect(failed.message).toBe(message);
    expect(failureFields(failed)).toEqual({ reason: message });
  });

  it.each([
    ["another method", (request: Request) => new Request(request, { method: "DELETE" })],
    ["another URL", (request: Request) => new Request("https://elsewhere.example.com/", request)],
    ["another query", (request: Request) => new Request(`${request.url}&admin=1`, request)],
  ])("a Request with %s is a failure: a policy edits headers only", async (_, policy) => {
    const failed = await failure(inbound(policy)());
    expect(failed.message).toBe("returned a request with another method or URL, which a policy may not change");
  });

  it("a Request with a body is a failure: the client's body goes upstream as it came", async () => {
    const failed = await failure(
      inbound((request) => new Request(request.url, { method: "POST", body: "mine" }))(new Request(URL_, { method: "POST" })),
    );
    expect(failed.message).toBe("returned a request with a body, which a policy may not change");
  });

  it("a Response whose body was read is a failure", async () => {
    const failed = await failure(
      inbound(async () => {
        const answer = new Response("read");
        await answer.text();
        return answer;
      })(),
    );
    expect(failed.message).toBe("returned a Response whose body was already read");
  });
});

describe("what an outbound policy returns", () => {
  it("nothing: continued, the response as it is (its headers edited in place, if it edited them)", async () => {
    const response = new Response("body", { headers: { "x-a": "1" } });
    const outcome = await outbound((r) => {
      r.headers.set("x-b", "2");
    })(response);
    expect(outcome).toEqual({ decision: "continued" });
    expect(response.headers.get("x-b")).toBe("2");
    expect(await response.text()).toBe("body");
  });

  it("the same response: continued; a new one: replaced", async () => {
    expect(await outbound((r) => r)(new Response("x"))).toEqual({ decision: "continued" });
    const replacement = new Response("y");
    expect(await outbound(() => replacement)(new Response("x"))).toEqual({ decision: "replaced", response: replacement });
  });

  it("reading the body and returning nothing (or the same response) is a failure, never a response without its body", async () => {
    for (const policy of [
      async (r: Response) => {
        await r.text();
      },
      async (r: Response) => {
        await r.json();
        return r;
      },
      (r: Response) => {
        r.body?.getReader();
      },
    ]) {
      const failed = await failure(outbound(policy)(new Response('{"a":1}')));
      expect(failed.message).toBe("read the response body and returned no new Response: the body it read is gone");
    }
  });

  it("reading a clone leaves the response whole: continued", async () => {
    const response = new Response('{"a":1}');
    expect(
      await outbound(async (r) => {
        await r.clone().json();
      })(response),
    ).toEqual({ decision: "continued" });
    expect(await response.json()).toEqual({ a: 1 });
  });

  it("returning a Request, a number or null is a failure", async () => {
    for (const [value, what] of [
      [new Request(URL_), "an object (Request)"],
      [7, "a number"],
      [null, "null"],
    ] as const) {
      const failed = await failure(outbound(() => value as unknown as Response)(new Response("x")));
      expect(failed.message).toBe(`returned ${what} where a Response or nothing (undefined) is allowed`);
    }
  });

  it("sees the request the response answers, without its body", async () => {
    let seen: string | undefined;
    await outbound((_, context) => {
      seen = `${context.request.method} ${context.request.url} ${context.request.headers.get("x-tenant")}`;
    })(new Response("x"));
    expect(seen).toBe(`GET ${URL_} acme`);
  });
});

describe("a policy that throws", () => {
  it.each([
    ["an Error", new TypeError("options.fields must be a list")],
    ["a string", "boom"],
    ["a number", 42],
    ["undefined", undefined],
    ["null", null],
    ["an object", { code: "E_TENANT" }],
    ["an object without a prototype", Object.create(null)],
    ["a symbol", Symbol("s")],
  ])("throwing %s, at once or later, is a failure that keeps what it threw for the log", async (_, thrown) => {
    const sync = await failure(
      inbound(() => {
        throw thrown;
      })(),
    );
    const later = await failure(
      outbound(async () => {
        await Promise.resolve();
        throw thrown;
      })(new Response("x")),
    );
    for (const failed of [sync, later]) {
      expect(failed.message).toBe("threw");
      expect(failed.cause).toBe(thrown);
      expect(failureFields(failed)).toHaveProperty("error");
    }
  });
});

describe("the log fields of a failure", () => {
  it("an Error's name, message and stack", () => {
    const fields = failureFields(new PolicyFailure("p", "threw", new TypeError("bad option")));
    expect(fields).toMatchObject({ reason: "threw", error: { name: "TypeError", message: "bad option" } });
    expect((fields.error as { stack: string }).stack).toContain("bad option");
  });

  it("anything else as JSON or its string, and never a throw, whatever was thrown", () => {
    const hostile = {
      toString() {
        throw new Error("no");
      },
      toJSON() {
        throw new Error("no");
      },
    };
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const angryError = new Error("x");
    Object.defineProperty(angryError, "message", {
      get() {
        throw new Error("no");
      },
    });
    expect(thrownFields("boom")).toBe("boom");
    expect(thrownFields({ code: "E" })).toBe('{"code":"E"}');
    expect(thrownFields(undefined)).toBe("undefined");
    expect(thrownFields(Symbol("s"))).toBe("Symbol(s)");
    expect(thrownFields(Object.create(null))).toBe("{}");
    expect(thrownFields(circular)).toBe("[object Object]");
    expect(thrownFields(hostile)).toBe("(a thrown object that cannot be printed)");
    expect(thrownFields(angryError)).toBe("(a thrown object that cannot be printed)");
    expect(failureFields(new PolicyFailure("p", "returned a number where ..."))).toEqual({ reason: "returned a number where ..." });
  });

  it("cuts a huge message", () => {
    const fields = thrownFields(new Error("x".repeat(100_000))) as { message: string };
    expect(fields.message.length).toBeLessThan(4_200);
    expect(fields.message).toMatch(/\.\.\. \(100000 characters\)$/);
  });
});

describe("the deadline of a call", () => {
  it("a call that does not finish in time is a failure; what it does later is ignored", async () => {
    let finishLate: (value: Response) => void = () => {};
    const started = Date.now();
    const failed = await failure(inbound(() => new Promise<Response>((resolve) => (finishLate = resolve)), {}, 50)());
    expect(failed.message).toBe("did not finish within 50 ms");
    expect(Date.now() - started).toBeLessThan(2_000);
    finishLate(new Response("late"));
    const hung = await failure(outbound(() => new Promise(() => {}), 30)(new Response("x")));
    expect(hung.message).toBe("did not finish within 30 ms");
    const rejectsLate = await failure(
      outbound(() => new Promise((_, reject) => setTimeout(() => reject(new Error("late")), 60)), 20)(new Response("x")),
    );
    expect(rejectsLate.message).toBe("did not finish within 20 ms");
    await new Promise((resolve) => setTimeout(resolve, 80));
  });

  it("defaults to five seconds", () => {
    expect(DEFAULT_POLICY_TIMEOUT_MS).toBe(5_000);
  });
});

describe("the context a policy is handed", () => {
  it("names the instance and its options, the route, the caller, the client, the request id and the bindings", async () => {
    let seen: PolicyContext | undefined;
    const identity: Identity = {
      method: "jwt",
      subject: "user-1",
      consumer: null,
      scopes: new Set(["read"]),
      claims: { sub: "user-1", tenant: "acme" },
      rateLimitKey: "user-1",
    };
    await compileCustom(
      "tenant",
      {
        inbound: (_, context) => {
          seen = context;
        },
      },
      { claim: "tenant" },
    ).inbound?.(at(undefined, identity));
    expect(seen).toMatchObject({
      policy: { name: "tenant", options: { claim: "tenant" } },
      route: { id: "orders", params: { id: "7" } },
      caller: { method: "jwt", subject: "user-1", consumer: null, claims: { tenant: "acme" } },
      clientIp: "203.0.113.7",
      requestId: "req-1",
      env: { SECRET: "s3cret" },
    });
    // What rate limiting keys on is the gateway's business, not the policy's.
    expect(seen?.caller).not.toHaveProperty("rateLimitKey");
  });

  it("log writes one line with the policy's name and the request id, which the fields cannot replace", async () => {
    const lines = await linesDuring("tenant.checked", () =>
      inbound((_, context) => context.log("info", "tenant.checked", { tenant: "acme", policy: "forged", requestId: "forged" }))(),
    );
    expect(lines).toEqual([{ level: "info", event: "tenant.checked", tenant: "acme", policy: "p", requestId: "req-1" }]);
  });

  it("waitUntil hands the work on; its failure is logged under the policy's name", async () => {
    const handed: Array<Promise<unknown>> = [];
    const lines = await linesDuring("policy.background-failed", async () => {
      const policy: InboundPolicy = (_, context) => {
        context.waitUntil(Promise.reject(new Error("audit down")));
      };
      await compileCustom("p", { inbound: policy }, {}).inbound?.({
        ...at(),
        waitUntil: (work) => handed.push(work),
      });
      await Promise.all(handed);
    });
    expect(handed).toHaveLength(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: "error",
        policy: "p",
        requestId: "req-1",
        error: expect.objectContaining({ message: "audit down" }),
      }),
    ]);
  });
});
