/**
 * Tracing tests' helpers: the local OTLP receiver (test/harness/otlp-receiver.ts) and configs
 * that export to it.
 */
import { inject } from "vitest";
import type { GatewayConfigInput } from "../src/config/schema.ts";
import type { ReceivedSpan } from "./harness/otlp-span.ts";

export const otlpEndpoint = `http://127.0.0.1:${inject("otlpPort")}/v1/traces`;

type Tracing = NonNullable<NonNullable<GatewayConfigInput["observability"]>["tracing"]>;

/** `config` with tracing to the local receiver, every span exported at once (a batch of one). */
export function traced(config: GatewayConfigInput, tracing: Partial<Tracing> = {}): GatewayConfigInput {
  return { ...config, observability: { tracing: { endpoint: otlpEndpoint, sampleRate: 1, batchSize: 1, ...tracing } } };
}

/** A fresh trace id and a caller's traceparent in it. */
export function callerTrace(flags = "01"): { traceId: string; callerSpanId: string; traceparent: string } {
  const hex = crypto.randomUUID().replaceAll("-", "");
  const traceId = hex;
  const callerSpanId = hex.slice(0, 16);
  return { traceId, callerSpanId, traceparent: `00-${traceId}-${callerSpanId}-${flags}` };
}

/** The spans the receiver holds for `traceId`. */
export async function receivedSpans(traceId: string): Promise<ReceivedSpan[]> {
  const port = inject("otlpPort");
  return ((await (await fetch(`http://127.0.0.1:${port}/__control/spans?traceId=${traceId}`)).json()) as { spans: ReceivedSpan[] }).spans;
}

/** Waits until the receiver holds at least `count` spans of `traceId` (exports run in the background), and returns them. */
export async function spansOfTrace(traceId: string, count: number, waitMs = 3_000): Promise<ReceivedSpan[]> {
  const until = Date.now() + waitMs;
  for (;;) {
    const spans = await receivedSpans(traceId);
    if (spans.length >= count || Date.now() > until) return spans;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A span's attributes as a plain object (string, int as number, bool). */
export function attributesOf(span: ReceivedSpan): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of span.attributes) {
    if (typeof value.stringValue === "string") out[key] = value.stringValue;
    else if (typeof value.intValue === "string") out[key] = Number(value.intValue);
    else if (typeof value.boolValue === "boolean") out[key] = value.boolValue;
  }
  return out;
}

export const SERVER = 2;
export const CLIENT = 3;
