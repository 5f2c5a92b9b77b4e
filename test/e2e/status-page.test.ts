/**
 * The status page in a real browser (Debian's headless Chromium, driven by playwright-core): the
 * Basic prompt answered with the admin token, then the config version, routes and clusters with
 * their breaker state and counts. The test keeps a screenshot (.e2e/status-page.png).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { SYSTEM_TOOLS } from "../../scripts/lib/system-packages.ts";

const url = inject("e2eGatewayUrl");
const token = inject("e2eAdminToken");
const CHROMIUM = SYSTEM_TOOLS.chromium.executable;
const SCREENSHOT = resolve(import.meta.dirname, "../../.e2e/status-page.png");

type Browser = Awaited<ReturnType<typeof chromium.launch>>;
let browser: Browser;

async function publish(config: unknown): Promise<string> {
  const response = await fetch(`${url}/__gateway/admin/config`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "if-match": "*" },
    body: JSON.stringify(config),
  });
  expect(response.status).toBe(201);
  const { version } = (await response.json()) as { version: string };
  // Isolates pick a new version up in the background: wait until this one serves it.
  for (let i = 0; i < 200; i++) {
    const health = (await (await fetch(`${url}/__gateway/health`)).json()) as { config: { version: string } };
    if (health.config.version === version) return version;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the gateway did not load ${version}`);
}

beforeAll(async () => {
  // The e2e global setup installs it when missing (as root), or ends the run saying how.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  // The flags keep a root, sandboxless, offline Chromium from reaching for the network.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe("status page", () => {
  it("asks a browser for credentials and shows nothing without them", async () => {
    const plain = await fetch(`${url}/__gateway/admin/`);
    expect(plain.status).toBe(401);
    expect(plain.headers.get("www-authenticate")).toMatch(/^Basic realm="edgegate-admin"/);
    expect(await plain.text()).not.toContain("Routes");
    // A headless browser has nobody to type a password: it gives up on the challenge, or shows
    // the 401 when its credentials are refused. Either way the page never renders.
    const denied = (status: number | string) => status === 401 || /ERR_INVALID_AUTH_CREDENTIALS/.test(String(status));
    const context = await browser.newContext();
    const wrong = await browser.newContext({ httpCredentials: { username: "admin", password: "wrong" } });
    for (const ctx of [context, wrong]) {
      const page = await ctx.newPage();
      const outcome = await page.goto(`${url}/__gateway/admin/`).then(
        (response) => response?.status() ?? 0,
        (error: Error) => error.message,
      );
      expect(denied(outcome), String(outcome)).toBe(true);
    }
    await Promise.all([context.close(), wrong.close()]);
  });

  it("shows the config version, routes, clusters with breaker state, and rate-limit and error counts", async () => {
    const version = await publish({
      clusters: {
        users: { targets: [{ url: "https://users-a.example.com" }, { url: "https://users-b.example.com" }], breaker: {} },
        reports: { targets: [{ url: "https://reports.example.com" }] },
      },
      routes: [
        { id: "users-read", match: { path: "/users/:id", methods: ["GET"] }, cluster: "users", coalesce: {} },
        {
          id: "reports",
          match: { path: "/reports/*" },
          cluster: "reports",
          rateLimits: [{ id: "per-ip", limit: 2, windowSec: 60, backend: "durable-object" }],
          timeoutMs: 1_000,
        },
      ],
    });
    // Traffic for the counts: the upstreams are not reachable from here (502s), and the third
    // request to /reports is over its limit (429).
    for (let i = 0; i < 3; i++) await (await fetch(`${url}/reports/daily`)).text();
    await (await fetch(`${url}/users/1`)).text();

    const context = await browser.newContext({
      httpCredentials: { username: "admin", password: token },
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();
    const response = await page.goto(`${url}/__gateway/admin/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("default-src 'none'");
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // biome-ignore lint/performance/useDomNodeTextContent: the test reads the page as rendered, which is what innerText gives.
    const text = await page.innerText("body");
    expect(text).toContain(version);
    expect(text).toContain("1 rate-limited");
    const routes = await page.$$eval("table:nth-of-type(1) tbody tr", (rows) =>
      rows.map((row) => [...row.querySelectorAll("td")].map((td) => td.textContent?.trim())),
    );
    expect(routes).toEqual([
      ["users-read", "/users/:id", "GET", "users", "coalesce", "0", "0", "1", "0"],
      ["reports", "/reports/*", "any", "reports", "limit:per-ip", "0", "1", "2", "1"],
    ]);
    const clusters = await page.$$eval("table:nth-of-type(2) tbody tr", (rows) =>
      rows.map((row) => [...row.querySelectorAll("td")].map((td) => td.textContent?.trim())),
    );
    expect(clusters.map((row) => row.slice(0, 3))).toEqual([
      ["users", "https://users-a.example.com", expect.stringMatching(/^(closed|no data)$/)],
      ["", "https://users-b.example.com", expect.stringMatching(/^(closed|no data)$/)],
      ["reports", "https://reports.example.com", "no breaker"],
    ]);
    expect(existsSync(SCREENSHOT)).toBe(true);
    await context.close();
  });

  it("escapes what the config says: a route id cannot inject markup", async () => {
    await publish({
      clusters: { c: { targets: [{ url: "https://c.example.com" }] } },
      routes: [{ id: "ok", match: { path: "/a/:x", hosts: ["example.com"] }, cluster: "c" }],
    });
    const context = await browser.newContext({ httpCredentials: { username: "admin", password: token } });
    const page = await context.newPage();
    await page.goto(`${url}/__gateway/admin/?<script>alert(1)</script>`);
    expect(await page.$$("script")).toHaveLength(0);
    await context.close();
  });
});
