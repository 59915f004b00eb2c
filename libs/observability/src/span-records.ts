/**
 * Finished spans as plain data, and their turn into the OpenTelemetry SDK's `ReadableSpan`s.
 *
 * The roles make spans as `SpanRecord`s (recorded-spans.ts): a few fields, no SDK object, so a busy
 * role's heap and hot code stay as they are untraced. The records cross to the export thread
 * (span-export-thread.ts) as they are, where this module makes them the SDK's spans for its
 * BatchSpanProcessor and OTLP exporter. Tests use the same turn without a thread.
 */
import { createTraceState, TraceFlags, type Attributes, type HrTime, type SpanContext, type SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** A finished span: what a role hands to the export. Times are epoch milliseconds, with fractions. */
export interface SpanRecord {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  /** The parent's span id; absent for a root. */
  parentSpanId?: string;
  /** Whether the parent is in another process (it came in a traceparent). */
  parentRemote?: boolean;
  /** The W3C `tracestate` that came with the trace, as text. */
  traceState?: string;
  startMs: number;
  endMs: number;
  attributes: Attributes;
  /** 0 unset, 1 ok, 2 error (OpenTelemetry's SpanStatusCode). */
  statusCode: number;
  statusMessage?: string;
  /** Only from code using the OpenTelemetry API in a role (the roles' own spans have none). */
  events?: { name: string; timeMs: number; attributes?: Attributes }[];
  links?: { traceId: string; spanId: string; traceState?: string; attributes?: Attributes }[];
  /** The role whose work it was, when not the exporting role's (a worker's handler span, exported by the sink). */
  role?: string;
}

/** Epoch milliseconds as OpenTelemetry's [seconds, nanoseconds]. */
export function hrTime(ms: number): HrTime {
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds++;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

/**
 * Turns a role's records into the SDK's spans, with `service.name` `jobpipe-<role>`: the record's
 * own role when it has one, so a span exported for another role reads as that role's.
 */
export function readableSpans(role: string): (record: SpanRecord) => ReadableSpan {
  const resources = new Map<string, Resource>();
  const resourceOf = (name: string): Resource => {
    let resource = resources.get(name);
    if (!resource) resources.set(name, (resource = resourceFromAttributes({ 'service.name': `jobpipe-${name}`, 'jobpipe.role': name })));
    return resource;
  };
  const instrumentationScope = { name: 'jobpipe' };
  return (record) => {
    const resource = resourceOf(record.role ?? role);
    const traceState = record.traceState === undefined ? undefined : createTraceState(record.traceState);
    const own: SpanContext = { traceId: record.traceId, spanId: record.spanId, traceFlags: TraceFlags.SAMPLED, ...(traceState ? { traceState } : {}) };
    const parent: SpanContext | undefined =
      record.parentSpanId === undefined
        ? undefined
        : { traceId: record.traceId, spanId: record.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: record.parentRemote === true };
    return {
      name: record.name,
      kind: record.kind,
      spanContext: () => own,
      ...(parent ? { parentSpanContext: parent } : {}),
      startTime: hrTime(record.startMs),
      endTime: hrTime(record.endMs),
      duration: hrTime(Math.max(0, record.endMs - record.startMs)),
      status: record.statusMessage === undefined ? { code: record.statusCode } : { code: record.statusCode, message: record.statusMessage },
      attributes: record.attributes,
      links: (record.links ?? []).map((link) => ({
        context: {
          traceId: link.traceId,
          spanId: link.spanId,
          traceFlags: TraceFlags.SAMPLED,
          ...(link.traceState === undefined ? {} : { traceState: createTraceState(link.traceState) }),
        },
        ...(link.attributes ? { attributes: link.attributes } : {}),
      })),
      events: (record.events ?? []).map((event) => ({
        name: event.name,
        time: hrTime(event.timeMs),
        ...(event.attributes ? { attributes: event.attributes } : {}),
      })),
      ended: true,
      resource,
      instrumentationScope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  };
}
