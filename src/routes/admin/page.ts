/**
 * GET /__gateway/admin/: a status page for operators, rendered on the server with Hono's html
 * helper (every interpolation escaped; no script, no build step). Behind the admin token like the
 * rest of the admin surface: a browser gets a Basic prompt, the token as the password.
 */
import type { Context } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { deploymentValidation } from "../../config/deployment.ts";
import { type GatewayConfig, parseConfig } from "../../config/schema.ts";
import { snapshotCache } from "../../config/snapshot-cache.ts";
import { readVersionDocument } from "../../config/store.ts";
import { gatewaySettings } from "../../env.ts";
import type { TargetStatus } from "../../lib/breaker/state.ts";
import type { CompiledCluster } from "../../lib/cluster/config.ts";
import { counterSnapshot } from "../../lib/metrics.ts";
import { withTimeout } from "../../lib/timeout.ts";
import type { AppEnv } from "../../variables.ts";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1b1f24; background: #fafbfc; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.75rem 0 .5rem; }
table { border-collapse: collapse; background: #fff; min-width: 40rem; }
th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, monospace; } .muted { color: #5b636d; }
.state { padding: .05rem .45rem; border-radius: .6rem; font-size: 12px; font-weight: 600; }
.closed { background: #dcf3e3; color: #12602f; } .open { background: #fde2e1; color: #8c1d18; }
.half-open { background: #fff1c9; color: #7a5200; } .unknown { background: #eceef1; color: #5b636d; }
`;

/** Sum of the counters named `name` whose labels include every pair in `labels`. */
function sumCounters(counters: Record<string, number>, name: string, labels: Record<string, string>): number {
  let total = 0;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [key, value] of Object.entries(counters)) {
    if (!key.startsWith(`${name}{`)) continue;
    if (wanted.every((pair) => key.includes(pair))) total += value;
  }
  return total;
}

async function sharedStates(c: Context<AppEnv>, cluster: CompiledCluster): Promise<Record<string, TargetStatus> | null> {
  const namespace = c.env.BREAKER;
  if (cluster.breaker === null || namespace === undefined) return null;
  try {
    const stub = namespace.get(namespace.idFromName(cluster.name));
    return await withTimeout(stub.status(cluster.breaker), cluster.breaker.objectTimeoutMs, () => new Error("timeout"));
  } catch {
    return null;
  }
}

function stateBadge(state: string | undefined): Html {
  const known = state === "closed" || state === "open" || state === "half-open";
  return html`<span class="state ${known ? state : "unknown"}">${state ?? "no data"}</span>`;
}

function routeFeatures(route: GatewayConfig["routes"][number]): string {
  const features: string[] = [];
  if (route.auth?.jwt) features.push(`jwt:${route.auth.jwt}`);
  if (route.auth?.apiKey) features.push("api-key");
  for (const policy of route.rateLimits) features.push(`limit:${policy.id}${policy.shadow ? " (shadow)" : ""}`);
  if (route.coalesce) features.push("coalesce");
  if (route.retry) features.push("retry");
  return features.join(", ") || "-";
}

export async function statusPage(c: Context<AppEnv>): Promise<Response> {
  const settings = gatewaySettings(c.env);
  const snapshot = await snapshotCache.get(
    { kv: c.env.CONFIG, validation: deploymentValidation(c.env), refreshIntervalMs: settings.configRefreshIntervalMs },
    (p) => c.executionCtx.waitUntil(p),
  );
  const { state } = snapshotCache.status();
  // The routes as published (the compiled table does not keep them in that form).
  // A KV hiccup leaves the routes table empty rather than failing the page.
  const document = snapshot ? await readVersionDocument(c.env.CONFIG, snapshot.version).catch(() => null) : null;
  const parsed = document === null ? null : parseConfig(document, deploymentValidation(c.env));
  const config = parsed?.ok ? parsed.config : null;
  const counters = counterSnapshot();
  const now = Date.now();

  const clusters = snapshot ? [...snapshot.clusters.values()] : [];
  const shared = await Promise.all(clusters.map((cluster) => sharedStates(c, cluster)));

  const routeRows = (config?.routes ?? []).map((route) => {
    const count = (cls: string) => sumCounters(counters, "http_requests_total", { route: route.id, class: cls });
    const limited = sumCounters(counters, "rate_limit_decisions_total", { route: route.id, outcome: "denied" });
    return html`<tr>
      <td><code>${route.id}</code></td>
      <td><code>${route.match.path}</code>${route.match.hosts ? html` <span class="muted">${route.match.hosts.join(" ")}</span>` : ""}</td>
      <td>${route.match.methods?.join(" ") ?? "any"}</td>
      <td><code>${route.cluster}</code></td>
      <td>${routeFeatures(route)}</td>
      <td class="n">${count("2xx") + count("3xx")}</td>
      <td class="n">${count("4xx")}</td>
      <td class="n">${count("5xx")}</td>
      <td class="n">${limited}</td>
    </tr>`;
  });

  const clusterRows = clusters.flatMap((cluster, i) => {
    const isolate = snapshotCache.runtime.clusterTracker(cluster.name)?.snapshot(now) ?? null;
    return cluster.targets.map((target, j) => {
      const status = shared[i]?.[target.key];
      const local = isolate?.targets[target.key];
      return html`<tr>
        <td>${j === 0 ? html`<code>${cluster.name}</code>` : ""}</td>
        <td><code>${target.key}</code></td>
        <td>${cluster.breaker ? stateBadge(status?.state ?? local?.state) : html`<span class="muted">no breaker</span>`}</td>
        <td class="n">${status?.score != null ? status.score.toFixed(2) : "-"}</td>
        <td class="n">${status?.failureRate != null ? `${(status.failureRate * 100).toFixed(1)}%` : "-"}</td>
        <td class="n">${status?.p99Ms != null ? `${Math.round(status.p99Ms)} ms` : "-"}</td>
        <td class="n">${local?.inFlight ?? 0}</td>
      </tr>`;
    });
  });

  const gatewayErrors = sumCounters(counters, "http_requests_total", { class: "5xx" });
  const limitedTotal = sumCounters(counters, "rate_limit_decisions_total", { outcome: "denied" });
  const page = html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>edgegate status</title><style>${STYLE}</style></head>
<body>
<h1>edgegate</h1>
<p class="muted">Config <code>${snapshot?.version ?? "none"}</code> (${state}), ${snapshot?.routeCount ?? 0} routes,
compiled ${snapshot ? new Date(snapshot.compiledAt).toISOString() : "-"}. Counts are this isolate's since it started:
${limitedTotal} rate-limited, ${gatewayErrors} answered 5xx.</p>
<h2>Routes</h2>
<table>
<thead><tr><th>id</th><th>match</th><th>methods</th><th>cluster</th><th>policies</th><th>2xx/3xx</th><th>4xx</th><th>5xx</th><th>rate-limited</th></tr></thead>
<tbody>${routeRows.length > 0 ? routeRows : html`<tr><td colspan="9" class="muted">no config loaded</td></tr>`}</tbody>
</table>
<h2>Clusters</h2>
<table>
<thead><tr><th>cluster</th><th>target</th><th>breaker</th><th>score</th><th>failures</th><th>p99</th><th>in flight</th></tr></thead>
<tbody>${clusterRows}</tbody>
</table>
</body>
</html>`;
  return c.html(page, 200, {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-request-id": c.get("requestId"),
  });
}
