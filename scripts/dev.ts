/**
 * `npm start`: the gateway under wrangler dev on an embedded default, no account and no network.
 * Starts the demo origin and a local Upstash (Debian's redis-server behind the Upstash REST API,
 * installed first when missing and run as root), publishes examples/config.json into local KV
 * (validated like any publish), then runs wrangler dev with the development flag that allows
 * loopback upstreams. wrangler dev listens on a private loopback port behind a front proxy on the
 * documented port, which sets CF-Connecting-IP from the socket as Cloudflare's edge does
 * (scripts/lib/front-proxy.ts). Then it watches the config file and republishes it on each save,
 * through the admin API, so the gateway serves it from its next request
 * (scripts/lib/config-watch.ts).
 */
import { spawn } from "node:child_process";
import { publishConfig } from "../src/config/store.ts";
import type { ConfigIssue } from "../src/lib/config/fields.ts";
import { createApiKey } from "../src/services/api-keys/store.ts";
import { adminClient } from "./cli/admin-client.ts";
import { startDemoOrigin } from "./demo-origin.ts";
import { configRepublisher, loadConfigFile, type PublishAnswer, watchConfigFile } from "./lib/config-watch.ts";
import { freePort } from "./lib/free-port.ts";
import { startFrontProxy } from "./lib/front-proxy.ts";
import { startLocalUpstashOrWarn } from "./lib/local-upstash.ts";
import { wranglerKv } from "./lib/wrangler-kv.ts";

const GATEWAY_PORT = Number(process.env.PORT ?? 8787);
const ORIGIN_PORT = 8788; // examples/config.json routes here
const CONFIG_FILE = process.env.EDGEGATE_CONFIG ?? "examples/config.json";
// Loopback upstreams (the demo origin) are allowed here, as wrangler dev's ALLOW_PRIVATE_UPSTREAMS below says.
const VALIDATION = { allowPrivateUpstreams: true };

// The example config's `origin-secret` policy sends this secret binding to the demo origin, which
// answers /users/:id only with it. A fresh value each start, passed to wrangler dev with --var like
// the admin token, so the example works without a .dev.vars file (one of yours is overridden).
const originSecret = crypto.randomUUID();
const origin = await startDemoOrigin(ORIGIN_PORT, "127.0.0.1", { sharedSecret: originSecret }).catch((error: NodeJS.ErrnoException) => {
  console.error(
    error.code === "EADDRINUSE"
      ? `port ${ORIGIN_PORT} is in use; the demo origin needs it (examples/config.json routes there)`
      : String(error),
  );
  process.exit(1);
});
console.log(`demo origin listening on http://127.0.0.1:${ORIGIN_PORT}`);

// Policies with backend "upstash" talk to this. redis-server is installed first when missing (as
// root); without it they fail open, and one warning line says so.
const upstash = await startLocalUpstashOrWarn({ port: await freePort(), redisPort: await freePort() });
if (upstash) console.log(`local Upstash (redis-server behind the REST API) on ${upstash.url}`);
const adminToken = crypto.randomUUID();

// Read and validated as every save after it will be (scripts/lib/config-watch.ts).
const loaded = await loadConfigFile(CONFIG_FILE, VALIDATION);
if (!loaded.ok) {
  console.error(loaded.report);
  process.exit(1);
}
const published = await publishConfig(wranglerKv({ where: "local" }), loaded.document, VALIDATION);
if (!published.ok) throw new Error("a config that passed validation was refused on publish");
console.log(`published ${CONFIG_FILE} to local KV as version ${published.version}`);

// A fresh API key for the example's /partners/* route, so API-key auth can be tried at once.
const demoKey = await createApiKey(wranglerKv({ where: "local" }), { consumer: "demo-partner", scopes: ["reports:read"] });
console.log(`
try:
  curl -i http://127.0.0.1:${GATEWAY_PORT}/users/1
  curl -i http://127.0.0.1:${GATEWAY_PORT}/orders/42 -H "authorization: Bearer $(curl -s http://127.0.0.1:${ORIGIN_PORT}/demo/token)"
  curl -i http://127.0.0.1:${GATEWAY_PORT}/partners/report -H "x-api-key: ${demoKey.key}"
  curl -s http://127.0.0.1:${GATEWAY_PORT}/__gateway/admin/metrics -H "authorization: Bearer ${adminToken}"
  EDGEGATE_ADMIN_TOKEN=${adminToken} npm run edgegate -- versions
  status page: http://127.0.0.1:${GATEWAY_PORT}/__gateway/admin/ (any user name, the admin token as password)
`);

// wrangler dev keeps a client-sent CF-Connecting-IP, so a client could pose as any address and
// per-IP limits would not hold: clients reach it only through the front proxy, which sets it.
const workerPort = await freePort();
const front = await startFrontProxy({
  port: GATEWAY_PORT,
  hosts: ["127.0.0.1", "::1"],
  target: { host: "127.0.0.1", port: workerPort },
}).catch((error: NodeJS.ErrnoException) => {
  console.error(error.code === "EADDRINUSE" ? `port ${GATEWAY_PORT} is in use (set PORT to use another)` : String(error));
  process.exit(1);
});
console.log(`gateway on http://localhost:${GATEWAY_PORT} (wrangler dev behind it on 127.0.0.1:${workerPort}: use the former)`);

const dev = spawn(
  "wrangler",
  [
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(workerPort),
    "--var",
    "ALLOW_PRIVATE_UPSTREAMS:true",
    "--var",
    "CONFIG_REFRESH_INTERVAL_MS:1000",
    "--var",
    `ADMIN_TOKEN:${adminToken}`,
    "--var",
    `ORIGIN_SHARED_SECRET:${originSecret}`,
    ...(upstash ? ["--var", `UPSTASH_REDIS_REST_URL:${upstash.url}`, "--var", `UPSTASH_REDIS_REST_TOKEN:${upstash.token}`] : []),
    ...process.argv.slice(2),
  ],
  { stdio: "inherit" },
);

// Each save goes through the admin API like `edgegate publish --force`: the file is the source of
// truth here, so it replaces whatever is current. The isolate that carries out the publish serves
// it from its next request.
const admin = adminClient(`http://127.0.0.1:${GATEWAY_PORT}`, adminToken, { out: () => {}, err: () => {} });
async function publishThroughAdmin(document: unknown): Promise<PublishAnswer> {
  try {
    const { status, body } = await admin.call("PUT", "/config", { body: document, headers: { "if-match": "*" } });
    if (status === 201) return { ok: true, version: String(body.version) };
    if (status === 422 && Array.isArray(body.issues)) return { ok: false, issues: body.issues as ConfigIssue[] };
    return { ok: false, problem: `the gateway answered ${status}${body.detail ? `: ${String(body.detail)}` : ""}` };
  } catch (error) {
    return { ok: false, problem: error instanceof Error ? error.message : String(error) };
  }
}
const watching = watchConfigFile(
  CONFIG_FILE,
  configRepublisher({
    file: CONFIG_FILE,
    validation: VALIDATION,
    published: { version: published.version, document: loaded.document },
    publish: publishThroughAdmin,
    // One write per block, so wrangler's output never lands inside it.
    print: (block) => process.stderr.write(`${block}\n`),
  }),
);
console.log(`watching ${CONFIG_FILE}: each save is validated and published`);

const stop = () => dev.kill("SIGINT");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
dev.on("exit", (code) => {
  watching.close();
  origin.close();
  void front.close();
  void (upstash?.close() ?? Promise.resolve()).then(() => process.exit(code ?? 0));
});
