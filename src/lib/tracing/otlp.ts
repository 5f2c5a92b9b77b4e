/**
 * The OTLP/HTTP JSON encoding of spans: an ExportTraceServiceRequest
 * (opentelemetry-proto, trace/v1/trace.proto; JSON mapping per the OTLP specification: ids as hex,
 * 64-bit integers as decimal strings, enums as numbers).
 */
import type { AttributeValue, Span } from "./spans.ts";

/** SpanKind: SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3. */
const KIND = { server: 2, client: 3 } as const;
/** Status.StatusCode: STATUS_CODE_UNSET = 0, STATUS_CODE_ERROR = 2 (OK is for instrumentation users, not libraries). */
const STATUS_ERROR = 2;

export const SCOPE_NAME = "edgegate";

export interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string;
  doubleValue?: number;
  boolValue?: boolean;
}

export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

/** An attribute value in OTLP's AnyValue: integers as intValue (a decimal string: int64 in JSON), other numbers as doubleValue. */
export function anyValue(value: AttributeValue): OtlpAnyValue {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
}

function attributes(values: Readonly<Record<string, AttributeValue>>): OtlpKeyValue[] {
  return Object.entries(values).map(([key, value]) => ({ key, value: anyValue(value) }));
}

/** Epoch ms as the fixed64 nanoseconds OTLP wants, as a decimal string (exact: no float maths). */
export function unixNanos(ms: number): string {
  const whole = Math.floor(ms);
  return whole === 0 ? "0" : `${whole}000000`;
}

function encodeSpan(span: Span) {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId !== null && { parentSpanId: span.parentSpanId }),
    name: span.name,
    kind: KIND[span.kind],
    startTimeUnixNano: unixNanos(span.startMs),
    endTimeUnixNano: unixNanos(Math.max(span.startMs, span.endMs)),
    attributes: attributes(span.attributes),
    status: span.error ? { code: STATUS_ERROR } : {},
  };
}

/** One export request body for `spans`, under one resource (the gateway) and one scope. */
export function exportRequest(spans: readonly Span[], resource: Readonly<Record<string, AttributeValue>>) {
  return {
    resourceSpans: [
      {
        resource: { attributes: attributes(resource) },
        scopeSpans: [{ scope: { name: SCOPE_NAME }, spans: spans.map(encodeSpan) }],
      },
    ],
  };
}
