import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/schema.ts";
import type { ConfigIssue } from "../config/fields.ts";
import { compileWebSocket, RUNTIME_MAX_MESSAGE_BYTES } from "./config.ts";

const options = { allowPrivateUpstreams: false };

function configWith(route: Record<string, unknown>) {
  return {
    clusters: { live: { targets: [{ url: "https://live.internal.example.com" }] } },
    routes: [{ id: "live", match: { path: "/live/*" }, cluster: "live", ...route }],
  };
}

function issuesOf(route: Record<string, unknown>): ConfigIssue[] {
  const result = parseConfig(configWith(route), options);
  if (result.ok) throw new Error("expected the config to be refused");
  return result.issues;
}

describe("a route's websocket block", () => {
  it("is off when unset, and {} turns it on with the stated defaults", () => {
    const off = parseConfig(configWith({}), options);
    expect(off.ok && off.config.routes[0]?.websocket).toBeUndefined();
    const on = parseConfig(configWith({ websocket: {} }), options);
    expect(on.ok && on.config.routes[0]?.websocket).toEqual({ maxMessageBytes: RUNTIME_MAX_MESSAGE_BYTES, idleTimeoutSec: 300 });
    expect(compileWebSocket({ maxMessageBytes: 10, idleTimeoutSec: 2 })).toEqual({ maxMessageBytes: 10, idleTimeoutMs: 2_000 });
  });

  it.each([
    [{ maxMessageBytes: 0 }, "routes[0].websocket.maxMessageBytes"],
    [{ maxMessageBytes: RUNTIME_MAX_MESSAGE_BYTES + 1 }, "routes[0].websocket.maxMessageBytes"],
    [{ maxMessageBytes: 1.5 }, "routes[0].websocket.maxMessageBytes"],
    [{ idleTimeoutSec: 0 }, "routes[0].websocket.idleTimeoutSec"],
    [{ idleTimeoutSec: 86_401 }, "routes[0].websocket.idleTimeoutSec"],
    [{ idleTimeoutSec: "60" }, "routes[0].websocket.idleTimeoutSec"],
    [{ idleTimeoutMs: 60 }, "routes[0].websocket.idleTimeoutMs"],
  ])("refuses %j, naming the field", (websocket, path) => {
    expect(issuesOf({ websocket }).map((issue) => issue.path)).toContain(path);
  });

  it("refuses true and other non-objects: an object turns upgrades on", () => {
    for (const websocket of [true, 1, "on", null, [1]])
      expect(issuesOf({ websocket }).map((issue) => issue.path)).toEqual(["routes[0].websocket"]);
  });

  it("needs a route that serves GET, and one that neither coalesces nor caches", () => {
    expect(issuesOf({ websocket: {}, match: { path: "/live/*", methods: ["POST"] } })).toEqual([
      { path: "routes[0].websocket", message: "needs a route that serves GET: a WebSocket handshake is a GET request" },
    ]);
    expect(parseConfig(configWith({ websocket: {}, match: { path: "/live/*", methods: ["GET", "POST"] } }), options).ok).toBe(true);
    expect(issuesOf({ websocket: {}, coalesce: {} })).toEqual([
      { path: "routes[0].websocket", message: "cannot be combined with coalesce: a WebSocket connection is never shared" },
    ]);
    expect(issuesOf({ websocket: {}, cache: { ttlSec: 60 } }).filter((issue) => issue.path === "routes[0].websocket")).toEqual([
      { path: "routes[0].websocket", message: "cannot be combined with cache: a WebSocket connection is never served from a store" },
    ]);
  });
});
