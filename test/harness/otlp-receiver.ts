/**
 * A local OTLP/HTTP traces receiver for integration tests, run in Node by the global setup. It
 * accepts ExportTraceServiceRequest JSON at POST /v1/traces, checks its shape as a collector
 * would (a body that is not OTLP JSON gets 400), and keeps every span with the resource it came
 * under and the export's authorization header. Tests read the spans of one trace at
 * GET /__control/spans?traceId=<hex>.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ReceivedSpan } from "./otlp-span.ts";

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readText(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return text;
}

const HEX = (length: number) => new RegExp(`^[0-9a-f]{${length}}$`);

/** The spans of an export, or why it is not a valid OTLP JSON trace export. */
function spansOf(body: unknown): Array<Omit<ReceivedSpan, "received"> & { serviceName: unknown }> | string {
  const resourceSpans = (body as { resourceSpans?: unknown }).resourceSpans;
  if (!Array.isArray(resourceSpans)) return "resourceSpans must be an array";
  const spans: Array<Omit<ReceivedSpan, "received"> & { serviceName: unknown }> = [];
  for (const rs of resourceSpans) {
    const attributes = (rs.resource?.attributes ?? []) as Array<{ key: string; value: { stringValue?: string } }>;
    const serviceName = attributes.find((a) => a.key === "service.name")?.value.stringValue;
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        if (!HEX(32).test(span.traceId) || !HEX(16).test(span.spanId)) return "traceId/spanId must be lowercase hex";
        if (span.parentSpanId !== undefined && !HEX(16).test(span.parentSpanId)) return "parentSpanId must be lowercase hex";
        if (!/^\d+$/.test(span.startTimeUnixNano) || !/^\d+$/.test(span.endTimeUnixNano)) return "times must be decimal strings";
        if (BigInt(span.endTimeUnixNano) < BigInt(span.startTimeUnixNano)) return "a span must not end before it starts";
        spans.push({ ...span, serviceName });
      }
    }
  }
  return spans;
}

export async function startOtlpReceiver(): Promise<{ server: Server; port: number }> {
  const byTrace = new Map<string, ReceivedSpan[]>();
  let exports = 0;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://otlp.test");
    if (req.method === "GET" && url.pathname === "/__control/spans") {
      return json(res, 200, { spans: byTrace.get(url.searchParams.get("traceId") ?? "") ?? [], exports });
    }
    if (req.method === "POST" && url.pathname === "/v1/traces") {
      void readText(req).then((text) => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return json(res, 400, { message: "not JSON" });
        }
        const spans = spansOf(body);
        if (typeof spans === "string") return json(res, 400, { message: spans });
        exports++;
        for (const { serviceName, ...span } of spans) {
          const received = {
            authorization: req.headers.authorization ?? null,
            contentType: req.headers["content-type"] ?? null,
            serviceName,
          };
          const list = byTrace.get(span.traceId) ?? [];
          list.push({ ...span, received });
          byTrace.set(span.traceId, list);
        }
        json(res, 200, {});
      });
      return;
    }
    json(res, 404, { message: "not found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { server, port: (server.address() as AddressInfo).port };
}
