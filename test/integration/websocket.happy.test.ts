import { describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER, identityProvider, newSigner, publishKeys } from "../auth-support.ts";
import { loggedLines } from "../log-capture.ts";
import { applyConfig, gateway } from "../support.ts";
import { connect, connectionId, handshake, originClose, originSaw, wsConfig } from "./websocket-support.ts";

async function jwtRoute() {
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
  return signer;
}

describe("WebSocket proxying", () => {
  it("relays text and binary messages both ways through a JWT route, and keeps the credential from the target", async () => {
    const signer = await jwtRoute();
    const id = connectionId();
    const client = await connect(`/ws/echo?id=${id}`, { headers: { authorization: `Bearer ${await signer.sign()}` } });
    for (const text of ["hello", "", "ünïcødé ✓", "x".repeat(70_000)]) {
      client.socket.send(text);
      expect(await client.next()).toBe(text);
    }
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    client.socket.send(bytes);
    expect(new Uint8Array((await client.next()) as ArrayBuffer)).toEqual(bytes);

    const seen = await originSaw(id);
    expect(seen.handshakes).toBe(1);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.upgrade?.toLowerCase()).toBe("websocket");
    expect(seen.headers["x-forwarded-for"]).toBe("203.0.113.7");
    expect(seen.headers["x-request-id"]).toMatch(/.+/);
    client.socket.close(1000, "done");
    expect(await originClose(id)).toEqual({ code: 1000, reason: "done" });
  });

  it("forwards the path rewrite and query, and negotiates the subprotocol with the target", async () => {
    await applyConfig(wsConfig({ match: { path: "/live/*" }, rewrite: { stripPrefix: "/live", prefix: "/ws" } }));
    const id = connectionId();
    const { response, client } = await handshake(`/live/echo?id=${id}&a=1`, { headers: { "sec-websocket-protocol": "chat, chat.v2" } });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe("chat.v2");
    expect(response.headers.get("x-request-id")).toMatch(/.+/);
    const seen = await originSaw(id);
    expect(seen.url).toBe(`/ws/echo?id=${id}&a=1`);
    expect(seen.headers["sec-websocket-protocol"]).toBe("chat, chat.v2");
    client?.socket.close(1000);
  });

  it("passes the target's close code and reason to the client", async () => {
    await applyConfig(wsConfig());
    for (const [code, reason] of [
      [1000, "bye"],
      [1001, ""],
      [1008, "policy"],
      [4001, "session expired"],
    ] as const) {
      const client = await connect(`/ws/echo?id=${connectionId()}`);
      client.socket.send(`close:${code}:${reason}`);
      expect(await client.closeSeen()).toEqual({ code, reason });
    }
  });

  it("passes the client's close code and reason to the target", async () => {
    await applyConfig(wsConfig());
    for (const [code, reason] of [
      [1000, "done"],
      [3000, ""],
      [4999, "app-specific"],
    ] as const) {
      const id = connectionId();
      const client = await connect(`/ws/echo?id=${id}`);
      client.socket.send("ping");
      expect(await client.next()).toBe("ping");
      client.socket.close(code, reason);
      expect(await originClose(id)).toEqual({ code, reason });
    }
  });

  it("logs one access line per handshake and one line when the connection ends, with its counts and close code", async () => {
    await applyConfig(wsConfig({}, {}, { observability: { accessLog: { sampleRate: 1 } } }));
    const from = loggedLines().length;
    const client = await connect(`/ws/echo?id=${connectionId()}`);
    client.socket.send("a");
    await client.next();
    client.socket.send("close:4000:over");
    await client.closeSeen();
    const lines = loggedLines().slice(from);
    const access = lines.filter((line) => line.event === "access");
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ status: 101, attempts: 1, upstreamStatus: 101, decisions: { websocket: "upgraded" } });
    expect(lines.filter((line) => line.event === "websocket.closed")).toEqual([
      expect.objectContaining({ endedBy: "upstream", closeCode: 4000, messagesFromClient: 2, messagesFromUpstream: 1 }),
    ]);
  });

  it("holds the cluster's in-flight slot for the handshake only, not for the life of the connection", async () => {
    await applyConfig(wsConfig({}, { maxInFlight: 1, maxInFlightPerTarget: 1 }));
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await connect(`/ws/echo?id=${connectionId()}`));
    const response = await gateway(`/ws/echo?id=${connectionId()}`);
    expect(response.status).toBe(200);
    await response.body?.cancel();
    for (const client of open) {
      client.socket.send("still here");
      expect(await client.next()).toBe("still here");
      client.socket.close(1000);
    }
  });

  it("proxies a request without Upgrade on a WebSocket route as any other", async () => {
    await applyConfig(wsConfig());
    const id = connectionId();
    const response = await gateway(`/ws/echo?id=${id}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("not a websocket request");
  });
});
