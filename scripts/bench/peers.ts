/**
 * The peer gateways the benchmark runs edgegate against, each with the configuration a user would
 * write for the job (nothing tuned beyond one worker/thread and keepalive to the upstream, which
 * every contender gets): nginx as a plain reverse proxy, HAProxy (plain, and verifying ES256 JWTs
 * and rate-limiting with a stick table), and a Node.js gateway on Fastify (plain, and with jose).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { nginxFrame, spawnNginx } from "./tools.ts";

/** nginx as a reverse proxy: one worker, access log off, keepalive to the upstream. */
export function nginxProxyConfig(dir: string, port: number, origin: string): string {
  return nginxFrame(
    dir,
    `  upstream origin {
    server ${new URL(origin).host};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
`,
  );
}

export function startNginxProxy(workDir: string, port: number, origin: string, cpu: number): ChildProcess {
  return spawnNginx(workDir, "nginx-proxy", cpu, (dir) => nginxProxyConfig(dir, port, origin));
}

export interface JwtCheck {
  issuer: string;
  audience: string;
  /** PEM (SPKI) of the ES256 public key. */
  publicKeyPem: string;
}

/**
 * HAProxy 2.6: one thread. With `jwt`, the equivalent of edgegate's chain: a bearer token is
 * required, its alg, iss, aud and exp checked, its ES256 signature verified (`jwt_verify`), `sub`
 * forwarded as X-User-Id and Authorization removed; requests are tracked per client address in a
 * stick table and refused above `ratePerSecond` (a limit the benchmark never reaches, so it measures
 * the cost of counting, not of refusing).
 */
export function haproxyConfig(port: number, origin: string, jwt?: JwtCheck & { keyFile: string; ratePerSecond: number }): string {
  const auth = jwt
    ? `
  stick-table type ip size 100k expire 30s store http_req_rate(1s)
  http-request track-sc0 src
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${jwt.ratePerSecond} }
  http-request set-var(txn.bearer) http_auth_bearer
  http-request deny deny_status 401 unless { var(txn.bearer) -m found }
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str ES256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.iss') -m str ${jwt.issuer} }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.aud') -m str ${jwt.audience} }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"${jwt.keyFile}") -m int 1 }
  http-request set-header X-User-Id %[var(txn.bearer),jwt_payload_query('$.sub')]
  http-request del-header Authorization`
    : "";
  return `global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 err
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend gateway
  bind 127.0.0.1:${port}${auth}
  default_backend origin
backend origin
  server origin ${new URL(origin).host}
`;
}

export function startHaproxy(
  workDir: string,
  name: string,
  port: number,
  origin: string,
  cpu: number,
  jwt?: JwtCheck & { ratePerSecond: number },
): ChildProcess {
  const dir = resolve(workDir, name);
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, "jwt-public.pem");
  if (jwt) writeFileSync(keyFile, jwt.publicKeyPem);
  const conf = join(dir, "haproxy.cfg");
  writeFileSync(conf, haproxyConfig(port, origin, jwt ? { ...jwt, keyFile } : undefined));
  return spawn("taskset", ["-c", String(cpu), "haproxy", "-f", conf], { stdio: ["ignore", "ignore", "inherit"] });
}

/** The Node.js gateway (scripts/bench/node-gateway.ts) on Node 22, one process. */
export function startNodeGateway(port: number, origin: string, cpu: number, jwt?: JwtCheck & { jwks: string }): ChildProcess {
  return spawn("taskset", ["-c", String(cpu), process.execPath, resolve(import.meta.dirname, "node-gateway.ts")], {
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      PORT: String(port),
      ORIGIN: origin,
      ...(jwt ? { JWKS: jwt.jwks, ISSUER: jwt.issuer, AUDIENCE: jwt.audience } : {}),
    },
  });
}
