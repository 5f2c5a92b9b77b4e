/** A span as the local OTLP receiver (otlp-receiver.ts) keeps it: OTLP JSON, plus what came with its export. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status: { code?: number };
  /** Added by the receiver: what came with the export. */
  received: { authorization: string | null; contentType: string | null; serviceName: unknown };
}
