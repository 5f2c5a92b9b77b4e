import { describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER, identityProvider, newSigner, publishKeys } from "../auth-support.ts";
import { applyConfig, closedOrigin, expectProblem } from "../support.ts";
import { connect, connectionId, handshake, originClose, originSaw, REFUSAL_BODY_FOR_TESTS, wsConfig } from "./websocket-support.ts";

describe("WebSocket handshakes the gateway refuses", () => {
  it("refuses a handshake without a token with 401, and the target never hears of it", async () => {
    const set = `ws-${crypto.randomUUID()}`;
    const signer = await newSigner("ES256");
    await publishKeys(set, [signer.publicJwk]);
    await applyConfig(
      wsConfig(
        { auth: { jwt: "idp" } },
        {},
        { jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${identityProvider}/sets/${set}` } } },
      ),
    );
    for (const headers of [
      {} as Record<string, string>,
      { authorization: "Bearer not-a-token" },
      { authorization: `Basic ${btoa("a:b")}` },
    ]) {
      const id = connectionId();
      const { response, client } = await handshake(`/ws/echo?id=${id}`, { headers });
      expect(client).toBeNull();
      await expectProblem(response, 401, "unauthorized");
      expect((await originSaw(id)).handshakes).toBe(0);
    }
  });

  it("rate-limits handshakes: over the limit is 429, and the target never hears of it", async () => {
    await applyConfig(wsConfig({ rateLimits: [{ id: "handshakes", limit: 2, windowSec: 60 }] }));
    const clientIp = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const open = [
      await connect(`/ws/echo?id=${connectionId()}`, { clientIp }),
      await connect(`/ws/echo?id=${connectionId()}`, { clientIp }),
    ];
    const id = connectionId();
    const { response, client } = await handshake(`/ws/echo?id=${id}`, { clientIp });
    expect(client).toBeNull();
    await expectProblem(response, 429, "rate-limited");
    expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await originSaw(id)).handshakes).toBe(0);
    for (const each of open) each.socket.close(1000);
  });

  it("answers 502 websocket-refused when the target answers anything but 101, and shows nothing of its answer", async () => {
    await applyConfig(wsConfig());
    for (const path of ["/ws/refuse", "/ws/plain", "/ws/broken"]) {
      const id = connectionId();
      const { response, client } = await handshake(`${path}?id=${id}`);
      expect(client).toBeNull();
      const problem = await expectProblem(response, 502, "websocket-refused");
      expect(JSON.stringify(problem)).not.toContain(REFUSAL_BODY_FOR_TESTS);
      expect((await originSaw(id)).handshakes).toBe(1);
    }
  });

  it("answers 502 websocket-refused when the target cannot be reached", async () => {
    await applyConfig({
      clusters: { down: { targets: [{ url: closedOrigin }] } },
      routes: [{ id: "ws-down", match: { path: "/ws/*" }, cluster: "down", websocket: {} }],
    });
    const { response, client } = await handshake("/ws/echo");
    expect(client).toBeNull();
    await expectProblem(response, 502, "websocket-refused");
  });

  it("refuses an Upgrade to WebSocket on a route without websocket, in any spelling, and the target never hears of it", async () => {
    const config = wsConfig();
    delete (config.routes[0] as { websocket?: unknown }).websocket;
    await applyConfig(config);
    for (const upgrade of ["websocket", "WebSocket", "WEBSOCKET", "h2c, websocket", " websocket ", "websocket/13"]) {
      const id = connectionId();
      const { response, client } = await handshake(`/ws/echo?id=${id}`, { headers: { upgrade } });
      expect(client).toBeNull();
      await expectProblem(response, 403, "websocket-not-enabled");
      expect((await originSaw(id)).handshakes).toBe(0);
    }
    // Another protocol's Upgrade is ignored, as RFC 9110 section 7.8 allows: the request is proxied.
    const id = connectionId();
    const { response } = await handshake(`/ws/echo?id=${id}`, { headers: { upgrade: "h2c" } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("not a websocket request");
  });
});

describe("WebSocket limits", () => {
  it("closes both sides with 1009 when a message is over maxMessageBytes, whichever side sent it", async () => {
    await applyConfig(wsConfig({ websocket: { maxMessageBytes: 1000 } }));

    const fromClient = connectionId();
    const client = await connect(`/ws/echo?id=${fromClient}`);
    client.socket.send("x".repeat(1000));
    expect(await client.next()).toHaveLength(1000);
    client.socket.send("é".repeat(501)); // 1002 bytes in UTF-8, 501 code units
    expect((await client.closeSeen()).code).toBe(1009);
    expect((await originClose(fromClient)).code).toBe(1009);
    expect((await originSaw(fromClient)).messages).toBe(1);

    const binary = connectionId();
    const binaryClient = await connect(`/ws/echo?id=${binary}`);
    binaryClient.socket.send(new Uint8Array(1001));
    expect((await binaryClient.closeSeen()).code).toBe(1009);
    expect((await originSaw(binary)).messages).toBe(0);

    const fromOrigin = connectionId();
    const other = await connect(`/ws/echo?id=${fromOrigin}`);
    other.socket.send("big:1001");
    expect((await other.closeSeen()).code).toBe(1009);
    expect((await originClose(fromOrigin)).code).toBe(1009);
  });

  it("closes both sides with 1001 after idleTimeoutSec without a message either way", async () => {
    await applyConfig(wsConfig({ websocket: { idleTimeoutSec: 1 } }));
    const id = connectionId();
    const client = await connect(`/ws/echo?id=${id}`);
    const started = Date.now();
    // Traffic keeps it open past the timeout...
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      client.socket.send(`keep-${i}`);
      expect(await client.next()).toBe(`keep-${i}`);
    }
    // ...and silence closes it.
    expect(await client.closeSeen(5_000)).toEqual({ code: 1001, reason: "idle timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(await originClose(id)).toEqual({ code: 1001, reason: "idle timeout" });
  });

  it("closes the client with 1011 when the target drops the connection without a close frame", async () => {
    await applyConfig(wsConfig());
    const client = await connect(`/ws/echo?id=${connectionId()}`);
    client.socket.send("drop");
    expect((await client.closeSeen()).code).toBe(1011);
  });
});
