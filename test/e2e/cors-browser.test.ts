/**
 * The cors policy in a real browser (Debian's headless Chromium, driven by playwright-core): a page
 * on one local origin calls a JWT route of the gateway (the deploy bundle on workerd) on another,
 * with an Authorization header, so Chromium sends a preflight first. From an allowed origin the page
 * reads the answer, the gateway's 401 included; from any other origin Chromium blocks the call
 * (TypeError: Failed to fetch), even where the upstream itself says Access-Control-Allow-Origin: *.
 *
 * This file serves its own gateway from the bundle the e2e setup built: the shared one refuses
 * private upstreams, and this one needs a local upstream and identity provider.
 */
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { resolve } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../../scripts/lib/free-port.ts";
import { gatewayWorkerOptions } from "../../scripts/lib/gateway-worker.ts";
import { SYSTEM_TOOLS } from "../../scripts/lib/system-packages.ts";
import { recordStructuredLogs } from "../harness/runtime-log.ts";

const BUNDLE = resolve(import.meta.dirname, "../../.e2e/gateway");
const CHROMIUM = SYSTEM_TOOLS.chromium.executable;
const ADMIN_TOKEN = `cors-${crypto.randomUUID()}`;
const ISSUER = "https://idp.e2e.example/";
const AUDIENCE = "edgegate-e2e";

type Browser = Awaited<ReturnType<typeof chromium.launch>>;

/** What a page's script reports of its fetch: the answer it could read, or the error it got. */
interface PageResult {
  status?: number;
  body?: string;
  requestId?: string | null;
  error?: string;
}

/** The page both origins serve: it fetches `url` (with a bearer token when given) and writes what it got into #result. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>cors</title>
<pre id="result"></pre>
<script>
  const params = new URLSearchParams(location.search);
  const headers = params.has("token") ? { authorization: "Bearer " + params.get("token") } : {};
  fetch(params.get("url"), { headers })
    .then(
      async (response) => ({ status: response.status, body: await response.text(), requestId: response.headers.get("x-request-id") }),
      (error) => ({ error: String(error) }),
    )
    .then((result) => {
      const out = document.getElementById("result");
      out.textContent = JSON.stringify(result);
      out.dataset.done = "true";
    });
</script>
`;

let browser: Browser;
let mf: Miniflare;
let gatewayUrl: string;
let allowedPage: string;
let otherPage: string;
let token: string;
const servers: Server[] = [];
/** What the upstream received: method and path of each request. */
const upstreamSaw: string[] = [];

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, port: number): Promise<void> {
  const server = createServer(handler);
  servers.push(server);
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done()));
}

async function publish(config: unknown): Promise<void> {
  const response = await fetch(`${gatewayUrl}/__gateway/admin/config`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "if-match": "*" },
    body: JSON.stringify(config),
  });
  expect(response.status).toBe(201);
  const { version } = (await response.json()) as { version: string };
  for (let i = 0; i < 200; i++) {
    const health = (await (await fetch(`${gatewayUrl}/__gateway/health`)).json()) as { config: { version: string } };
    if (health.config.version === version) return;
    await new Promise((done) => setTimeout(done, 10));
  }
  throw new Error(`the gateway did not load ${version}`);
}

/** Opens `page` in a fresh browser context; its script fetches `path` of the gateway. */
async function fetchFrom(page: string, path: string, bearer?: string): Promise<PageResult> {
  const context = await browser.newContext();
  try {
    const tab = await context.newPage();
    const query = new URLSearchParams({ url: `${gatewayUrl}${path}`, ...(bearer !== undefined && { token: bearer }) });
    await tab.goto(`${page}/?${query}`);
    await tab.waitForSelector("#result[data-done]");
    // biome-ignore lint/performance/useDomNodeTextContent: the page's own output, as rendered.
    return JSON.parse(await tab.innerText("#result")) as PageResult;
  } finally {
    await context.close();
  }
}

beforeAll(async () => {
  // The e2e global setup installs it when missing (as root), or ends the run saying how.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const [gatewayPort, upstreamPort, allowedPort, otherPort] = await freePorts(4);
  gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  allowedPage = `http://127.0.0.1:${allowedPort}`;
  otherPage = `http://127.0.0.1:${otherPort}`;

  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "e2e", use: "sig", alg: "ES256" };
  token = await new SignJWT({ scope: "orders:read" })
    .setProtectedHeader({ alg: "ES256", kid: "e2e" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject("browser-user")
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(privateKey);

  // The upstream (and the identity provider's key set): it claims CORS for everyone, which the
  // gateway must not pass on.
  await listen((req, res) => {
    if (req.url === "/.well-known/jwks.json") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    upstreamSaw.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
    res.end(JSON.stringify({ ok: true, path: req.url }));
  }, upstreamPort as number);
  const page = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(PAGE);
  };
  await listen(page, allowedPort as number);
  await listen(page, otherPort as number);

  mf = new Miniflare(
    convertV4MiniflareOptions({
      handleStructuredLogs: recordStructuredLogs("cors-browser"),
      workers: [
        gatewayWorkerOptions(BUNDLE, gatewayPort as number, {
          ADMIN_TOKEN,
          ALLOW_PRIVATE_UPSTREAMS: "true",
          CONFIG_REFRESH_INTERVAL_MS: "0",
        }),
      ],
    }),
  );
  await mf.ready;
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  const cors = { inbound: ["browsers"] };
  await publish({
    clusters: { app: { targets: [{ url: upstream }] } },
    jwtProviders: { idp: { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${upstream}/.well-known/jwks.json`, algorithms: ["ES256"] } },
    policies: { browsers: { use: "cors", options: { origins: [allowedPage], headers: ["authorization"] } } },
    routes: [
      { id: "orders", match: { path: "/orders/*" }, cluster: "app", auth: { jwt: "idp", scopes: ["orders:read"] }, policies: cors },
      { id: "open", match: { path: "/open/*" }, cluster: "app", policies: cors },
      { id: "bare", match: { path: "/bare/*" }, cluster: "app", auth: { jwt: "idp", scopes: ["orders:read"] } },
    ],
  });

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
  await mf?.dispose();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

describe("cors in a browser", () => {
  it("lets a page on an allowed origin call the JWT route with its token: the preflight is answered by the gateway", async () => {
    upstreamSaw.length = 0;
    const result = await fetchFrom(allowedPage, "/orders/42", token);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body as string)).toEqual({ ok: true, path: "/orders/42" });
    // Exposed by the policy: the page can quote it.
    expect(result.requestId).toMatch(/.+/);
    // The preflight never reached the upstream; the request it allowed did.
    expect(upstreamSaw).toEqual(["GET /orders/42"]);
  });

  it("without the policy the same call fails: the preflight is asked for a credential (the reason it exists)", async () => {
    upstreamSaw.length = 0;
    expect(await fetchFrom(allowedPage, "/bare/42", token)).toEqual({ error: "TypeError: Failed to fetch" });
    expect(upstreamSaw).toEqual([]);
  });

  it("lets that page read the gateway's own 401", async () => {
    const result = await fetchFrom(allowedPage, "/orders/42", "not-a-token");
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body as string)).toMatchObject({ type: "urn:edgegate:problem:unauthorized", status: 401 });
  });

  it("blocks a page on another origin: the preflight gets no CORS fields, and nothing reaches the upstream", async () => {
    upstreamSaw.length = 0;
    const result = await fetchFrom(otherPage, "/orders/42", token);
    expect(result).toEqual({ error: "TypeError: Failed to fetch" });
    expect(upstreamSaw).toEqual([]);
  });

  it("blocks another origin's simple request although the upstream says '*': the gateway owns CORS on the route", async () => {
    // A GET without custom headers needs no preflight: it reaches the upstream, and only the
    // answer's fields decide whether the page may read it.
    upstreamSaw.length = 0;
    const blocked = await fetchFrom(otherPage, "/open/x");
    expect(blocked).toEqual({ error: "TypeError: Failed to fetch" });
    expect(upstreamSaw).toEqual(["GET /open/x"]);
    const allowed = await fetchFrom(allowedPage, "/open/x");
    expect(allowed.status).toBe(200);
  });
});
