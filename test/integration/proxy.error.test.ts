import { describe, expect, it } from "vitest";
import { applyConfig, closedOrigin, expectProblem, gateway, origin, originHits, simpleConfig } from "../support.ts";

const key = () => crypto.randomUUID();

describe("proxy: errors", () => {
  it("404 when no route matches, 405 with Allow when only the method is wrong", async () => {
    await applyConfig({
      clusters: { o: { targets: [{ url: origin }] } },
      routes: [{ id: "r", match: { path: "/users/:id", methods: ["GET", "PUT"] }, cluster: "o" }],
    });
    await expectProblem(await gateway("/nothing/here"), 404, "route-not-found");
    const wrongMethod = await gateway("/users/1", { method: "POST", body: "x" });
    expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD, PUT");
    await expectProblem(wrongMethod, 405, "method-not-allowed");
  });

  it("405 for TRACE, whatever the route", async () => {
    await applyConfig(simpleConfig());
    const res = await gateway("/echo", { method: "TRACE" });
    expect(res.headers.get("allow")).toContain("GET");
    await expectProblem(res, 405, "method-not-allowed");
  });

  it.each(["/files/a%2Fb", "/files/a%2fb", "/files/a%5Cb", "/files/%zz", "/files/a%00"])(
    "400 for the path %s, before any upstream call",
    async (path) => {
      await applyConfig(simpleConfig());
      await expectProblem(await gateway(path), 400, "invalid-path");
    },
  );

  it("504 when the upstream misses the route deadline", async () => {
    await applyConfig(simpleConfig({ timeoutMs: 200 }));
    const started = Date.now();
    const problem = await expectProblem(await gateway(`/slow?ms=5000&key=${key()}`), 504, "upstream-timeout");
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(JSON.stringify(problem)).not.toContain("127.0.0.1");
  });

  it("504 when the cluster's per-attempt connect timeout passes first", async () => {
    await applyConfig(simpleConfig({ timeoutMs: 10_000 }, { connectTimeoutMs: 150 }));
    await expectProblem(await gateway(`/slow?ms=5000&key=${key()}`), 504, "upstream-timeout");
  });

  it("502 when the connection is refused, without leaking the address", async () => {
    await applyConfig({
      clusters: { dead: { targets: [{ url: closedOrigin }] } },
      routes: [{ id: "r", match: { path: "/*" }, cluster: "dead" }],
    });
    const problem = await expectProblem(await gateway("/anything"), 502, "upstream-unavailable");
    expect(JSON.stringify(problem)).not.toMatch(/127\.0\.0\.1|:\d{4,5}|Error|at /);
  });

  it("502 when the upstream resets the connection", async () => {
    await applyConfig(simpleConfig());
    await expectProblem(await gateway(`/flaky?mode=reset&failures=1&key=${key()}`), 502, "upstream-unavailable");
  });

  it("cuts a response body that outlives the cluster's response timeout", async () => {
    await applyConfig(simpleConfig({}, { responseTimeoutMs: 400 }));
    const res = await gateway("/trickle?chunks=20&intervalMs=100");
    expect(res.status).toBe(200);
    let text = "";
    const reading = (async () => {
      const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = (await reader?.read()) ?? { done: true, value: undefined };
        if (done) return;
        text += value;
      }
    })();
    await expect(reading).rejects.toThrow();
    expect(text).toContain("chunk 0");
    expect(text).not.toContain("chunk 19");
  });

  it("lets a body stream past the route's header deadline when the cluster has a response timeout", async () => {
    // The header deadline (300 ms) must stop applying once the headers are in: only the response
    // timeout (10 s) bounds the body.
    await applyConfig(simpleConfig({ timeoutMs: 300 }, { responseTimeoutMs: 10_000, connectTimeoutMs: 300 }));
    const res = await gateway("/trickle?chunks=10&intervalMs=100");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("chunk 9");
  });
});

describe("proxy: retries", () => {
  const retrying = simpleConfig({ retry: { attempts: 2, on: ["connect-failure", "gateway-error"] } });

  it("retries an idempotent GET after a reset and a 503", async () => {
    await applyConfig(retrying);
    const reset = key();
    expect((await gateway(`/flaky?mode=reset&failures=1&key=${reset}`)).status).toBe(200);
    expect(await originHits(reset)).toBe(2);
    const unavailable = key();
    expect((await gateway(`/flaky?status=503&failures=2&key=${unavailable}`)).status).toBe(200);
    expect(await originHits(unavailable)).toBe(3);
  });

  it("stops after the configured attempts and returns the last upstream answer", async () => {
    await applyConfig(retrying);
    const k = key();
    const res = await gateway(`/flaky?status=503&failures=10&key=${k}`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ failed: 3 });
    expect(await originHits(k)).toBe(3);
  });

  it("never retries a POST", async () => {
    await applyConfig(retrying);
    const reset = key();
    await expectProblem(
      await gateway(`/flaky?mode=reset&failures=1&key=${reset}`, { method: "POST", body: "order" }),
      502,
      "upstream-unavailable",
    );
    expect(await originHits(reset)).toBe(1);
    const unavailable = key();
    expect((await gateway(`/flaky?status=503&failures=1&key=${unavailable}`, { method: "POST", body: "order" })).status).toBe(503);
    expect(await originHits(unavailable)).toBe(1);
  });

  it("does not retry failures the policy does not name", async () => {
    await applyConfig(simpleConfig({ retry: { attempts: 2, on: ["connect-failure"] } }));
    const k = key();
    expect((await gateway(`/flaky?status=503&failures=1&key=${k}`)).status).toBe(503);
    expect(await originHits(k)).toBe(1);
  });

  it("stops retrying when the retry budget is spent", async () => {
    await applyConfig(simpleConfig({ retry: { attempts: 1, on: ["gateway-error"], budget: { ratio: 0, minPerSecond: 0 } } }));
    const k = key();
    expect((await gateway(`/flaky?status=503&failures=1&key=${k}`)).status).toBe(503);
    expect(await originHits(k)).toBe(1);
  });

  it("moves to another target on retry", async () => {
    await applyConfig({
      clusters: { o: { targets: [{ url: closedOrigin }, { url: origin }] } },
      routes: [{ id: "r", match: { path: "/*" }, cluster: "o", retry: { attempts: 1 } }],
    });
    for (let i = 0; i < 4; i++) expect((await gateway("/echo")).status).toBe(200);
  });
});

describe("proxy: body limit", () => {
  it("413 from Content-Length before the upstream sees anything", async () => {
    await applyConfig(simpleConfig({ maxBodyBytes: 1024 }));
    const k = key();
    await expectProblem(await gateway(`/count?key=${k}`, { method: "POST", body: "x".repeat(1025) }), 413, "payload-too-large");
    expect(await originHits(k)).toBe(0);
    expect((await gateway(`/count?key=${k}`, { method: "POST", body: "x".repeat(1024) })).status).toBe(200);
  });

  it("413 while streaming a body that declared no length", async () => {
    await applyConfig(simpleConfig({ maxBodyBytes: 100_000 }));
    const chunk = new Uint8Array(16 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 1_000_000) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    await expectProblem(await gateway("/echo", { method: "POST", body }), 413, "payload-too-large");
    expect(sent).toBeLessThan(1_000_000);
  });
});
