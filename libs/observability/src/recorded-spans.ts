/**
 * The roles' spans, made without the OpenTelemetry SDK: each a `SpanRecord` of a few fields,
 * handed to a `SpanShipper` when it ends (the export thread in a role: span-shipper.ts). The
 * SDK's spans cost a busy role more than their own work, in its heap and its collections
 * (docs/benchmarks.md, sixteenth pass); these cost it a few small objects.
 */
import { randomFillSync } from 'node:crypto';
import { context, SpanKind, trace, TraceFlags, isSpanContextValid } from '@opentelemetry/api';
import type {
  Attributes,
  AttributeValue,
  Context,
  Exception,
  Link,
  Span,
  SpanContext,
  SpanOptions,
  SpanStatus,
  TimeInput,
  TraceState,
  Tracer,
} from '@opentelemetry/api';
import type { SpanRecord } from './span-records.js';
import type { SamplerSettings } from './tracing-settings.js';

/** A process's tracing, once started. */
export interface Tracing {
  readonly role: string;
  readonly sampler: SamplerSettings;
  /**
   * A recording span, child of `parent` (a root of a new trace without one), started at
   * `startMs` (epoch ms) or now. The callers decide sampling (`JobSampler`, `sampledParent`): a span
   * made here is exported. `attributes` is taken as it is, not copied.
   */
  startSpan(name: string, kind: SpanKind, attributes: Attributes, parent?: SpanContext, startMs?: number): Span;
  /** Exports a span that ended elsewhere: a worker's handler span, which came with its result. */
  exportSpan(record: SpanRecord): void;
  /** Exports what has ended so far. */
  flush(): Promise<void>;
  /** Exports what has ended, and stops the export. */
  shutdown(): Promise<void>;
}

/** Where ended spans go: the export thread in a role, an exporter of the caller's in tests. */
export interface SpanShipper {
  ship(record: SpanRecord): void;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Random ids from a pool refilled 4 KB at a time: one system call per few hundred spans. */
class RandomIds {
  readonly #pool = Buffer.allocUnsafe(4096);
  #at = this.#pool.length;

  hex(bytes: number): string {
    if (this.#at + bytes > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#at = 0;
    }
    return this.#pool.toString('hex', this.#at, (this.#at += bytes));
  }
}

const now = (): number => performance.timeOrigin + performance.now();

/** The process's one pool of random ids. */
const ids = new RandomIds();
/** A new random span id (16 hex digits), for a span whose record another process makes. */
export function randomSpanId(): string {
  return ids.hex(8);
}

/** A role's tracing: spans made as records, handed to a shipper as they end. */
export class RecordingTracing implements Tracing {
  readonly role: string;
  readonly sampler: SamplerSettings;
  readonly #shipper: SpanShipper;

  constructor(role: string, sampler: SamplerSettings, shipper: SpanShipper) {
    this.role = role;
    this.sampler = sampler;
    this.#shipper = shipper;
  }

  /** A random id of this many bytes, in hex. */
  newId(bytes: number): string {
    return ids.hex(bytes);
  }

  /** The roles' own spans: `attributes` is theirs, taken as it is (checked only on the API's way in). */
  startSpan(name: string, kind: SpanKind, attributes: Attributes, parent?: SpanContext, startMs?: number): Span {
    const record: SpanRecord = {
      name,
      kind,
      traceId: parent?.traceId ?? ids.hex(16),
      spanId: ids.hex(8),
      startMs: startMs ?? now(),
      endMs: 0,
      attributes,
      statusCode: 0,
    };
    if (parent) {
      record.parentSpanId = parent.spanId;
      if (parent.isRemote) record.parentRemote = true;
      const traceState = parent.traceState?.serialize();
      if (traceState) record.traceState = traceState;
    }
    // The span's context carries the parent's tracestate as it is: the record's text is for the export.
    return new RecordedSpan(record, this.#shipper, record.traceState === undefined ? undefined : parent?.traceState);
  }

  exportSpan(record: SpanRecord): void {
    this.#shipper.ship(record);
  }

  flush(): Promise<void> {
    return this.#shipper.flush();
  }

  shutdown(): Promise<void> {
    return this.#shipper.shutdown();
  }
}

/** Whether a value is one OpenTelemetry's attributes can hold (the SDK drops the others, and so does this). */
function isAttributeValue(value: unknown): value is AttributeValue {
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return true;
  return Array.isArray(value) && value.every((item) => item === null || item === undefined || ['string', 'number', 'boolean'].includes(typeof item));
}

/** The attributes of these that OpenTelemetry can hold, in a new object. */
function validAttributes(attributes: Attributes | undefined): Attributes {
  const valid: Attributes = {};
  for (const key in attributes) if (key.length > 0 && isAttributeValue(attributes[key])) valid[key] = attributes[key];
  return valid;
}

/** `TimeInput` as epoch ms: a number below the time origin is read as `performance.now()`'s, as the SDK does. */
function epochMs(time: TimeInput | undefined): number {
  if (time === undefined) return now();
  if (time instanceof Date) return time.getTime();
  if (Array.isArray(time)) return time[0] * 1000 + time[1] / 1e6;
  return time < performance.timeOrigin ? performance.timeOrigin + time : time;
}

/** A recording span of the API's kind, made into a record, handed to the export when it ends. */
class RecordedSpan implements Span {
  readonly #record: SpanRecord;
  readonly #shipper: SpanShipper;
  readonly #context: SpanContext;
  #ended = false;

  constructor(record: SpanRecord, shipper: SpanShipper, traceState: TraceState | undefined) {
    this.#record = record;
    this.#shipper = shipper;
    this.#context = { traceId: record.traceId, spanId: record.spanId, traceFlags: TraceFlags.SAMPLED, ...(traceState ? { traceState } : {}) };
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.#ended && key.length > 0 && isAttributeValue(value)) this.#record.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    if (!this.#ended) Object.assign(this.#record.attributes, validAttributes(attributes));
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.#ended) return this;
    const isTime = attributesOrTime instanceof Date || Array.isArray(attributesOrTime) || typeof attributesOrTime === 'number';
    const attributes = isTime || attributesOrTime === undefined ? undefined : validAttributes(attributesOrTime as Attributes);
    (this.#record.events ??= []).push({ name, timeMs: epochMs(isTime ? (attributesOrTime as TimeInput) : time), ...(attributes ? { attributes } : {}) });
    return this;
  }

  addLink(link: Link): this {
    if (this.#ended) return this;
    const traceState = link.context.traceState?.serialize();
    (this.#record.links ??= []).push({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
      ...(traceState ? { traceState } : {}),
      ...(link.attributes ? { attributes: validAttributes(link.attributes) } : {}),
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.#ended) return this;
    this.#record.statusCode = status.code;
    if (status.message === undefined) delete this.#record.statusMessage;
    else this.#record.statusMessage = status.message;
    return this;
  }

  updateName(name: string): this {
    if (!this.#ended) this.#record.name = String(name);
    return this;
  }

  isRecording(): boolean {
    return !this.#ended;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const error = typeof exception === 'string' ? { message: exception } : exception;
    const attributes: Attributes = {};
    if (error.name) attributes['exception.type'] = error.name;
    if (error.message) attributes['exception.message'] = error.message;
    if (error.stack) attributes['exception.stacktrace'] = error.stack;
    this.addEvent('exception', attributes, time);
  }

  end(endTime?: TimeInput): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#record.endMs = Math.max(epochMs(endTime), this.#record.startMs);
    this.#shipper.ship(this.#record);
  }
}

/**
 * The OpenTelemetry API's tracer over a role's tracing, registered as the global provider: code
 * that uses the API in a role's process (the submitter's span in `jobpipe submit`, a pipeline's
 * handler) makes spans that go the roles' way. Its spans follow the sampler settings: a child
 * takes its parent's decision when parent-based, a root is sampled at the ratio.
 */
export class ApiTracer implements Tracer {
  readonly #t: RecordingTracing;

  constructor(t: RecordingTracing) {
    this.#t = t;
  }

  startSpan(name: string, options: SpanOptions = {}, parentContext: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(parentContext);
    const valid = parent !== undefined && isSpanContextValid(parent);
    const { ratio, parentBased } = this.#t.sampler;
    const sampled = valid && parentBased ? (parent.traceFlags & TraceFlags.SAMPLED) !== 0 : ratio >= 1 || Math.random() < ratio;
    if (!sampled) return trace.wrapSpanContext({ traceId: valid ? parent.traceId : this.#t.newId(16), spanId: this.#t.newId(8), traceFlags: TraceFlags.NONE });
    const span = this.#t.startSpan(
      name,
      options.kind ?? SpanKind.INTERNAL,
      validAttributes(options.attributes),
      valid ? parent : undefined,
      epochMs(options.startTime),
    );
    if (options.links) span.addLinks(options.links);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, parentContext: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.at(-1) as F;
    const options = (rest.length > 1 ? rest[0] : undefined) as SpanOptions | undefined;
    const parentContext = (rest.length > 2 ? rest[1] : context.active()) as Context;
    const span = this.startSpan(name, options, parentContext);
    return context.with(trace.setSpan(parentContext, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}
