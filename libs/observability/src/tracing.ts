/**
 * Tracing: W3C trace context from the submitter through the ventilator, the worker's handler and
 * the sink's record, exported with the OpenTelemetry SDK over OTLP/HTTP (docs/architecture.md,
 * "Tracing").
 *
 * Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then
 * nothing of the SDK is loaded, `tracing()` is undefined, and the roles do no work per job at
 * all. On: the roles make their spans here as plain records (no SDK object on their heap), and a
 * thread of the process's own turns them into the SDK's spans for its BatchSpanProcessor and
 * OTLP/HTTP exporter (span-export-thread.ts), `service.name` `jobpipe-<role>`; sampled by the
 * standard `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, flushed by `stopTracing()`.
 *
 * Sampling. The ventilator decides per job (`JobSampler`), from the batch's trace id and the
 * job's seq, with a few integer operations: an unsampled job gets no span and no trace field.
 * A job it samples carries a `traceparent` with the sampled flag, naming its pack's dispatch span
 * (one span for the sampled jobs of a pack, written ahead and sent as one); the worker and the
 * sink make a span for exactly those jobs and results, and never start a trace of their own.
 */
import { createTraceState, isSpanContextValid, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import type { Attributes, Span, SpanContext, TracerProvider } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ApiTracer, RecordingTracing, type SpanShipper, type Tracing } from './recorded-spans.js';
import { ThreadShipper } from './span-shipper.js';
import { otlpProtocol, samplerSettings, tracingWanted, type SamplerSettings } from './tracing-settings.js';

export { otlpProtocol, samplerSettings, TracingSettingError, tracingWanted } from './tracing-settings.js';
export type { SamplerSettings } from './tracing-settings.js';
export type { Tracing } from './recorded-spans.js';
export { randomSpanId } from './recorded-spans.js';
export type { SpanRecord } from './span-records.js';

/** `version-traceid-parentid-flags`, version 00 (W3C Trace Context, level 1). */
export const TRACEPARENT_PATTERN = '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$';
const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A W3C `traceparent` as a span context (remote), or undefined when it is not a valid one. */
export function parseTraceparent(traceparent: string | undefined, tracestate?: string): SpanContext | undefined {
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return undefined;
  const traceId = traceparent.slice(3, 35);
  const spanId = traceparent.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const flags = Number.parseInt(traceparent.slice(53, 55), 16);
  const spanContext: SpanContext = { traceId, spanId, traceFlags: flags & TraceFlags.SAMPLED, isRemote: true };
  return tracestate === undefined ? spanContext : { ...spanContext, traceState: createTraceState(tracestate) };
}

/** A span context as a W3C `traceparent`. */
export function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${spanContext.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}

/**
 * The span context of a valid `traceparent` with the sampled flag, or undefined: the flag is read
 * first (one character), so an unsampled one costs no parse.
 */
export function sampledParent(traceparent: string | undefined, tracestate?: string): SpanContext | undefined {
  return traceparent !== undefined && traceparentSampled(traceparent) ? parseTraceparent(traceparent, tracestate) : undefined;
}

/** Whether a `traceparent` has the sampled flag (cheap: one character). */
export function traceparentSampled(traceparent: string): boolean {
  return (Number.parseInt(traceparent.charAt(54), 16) & 1) === 1;
}

/** The threshold `jobSampled` compares with: a ratio of 2^32. */
export function sampleThreshold(ratio: number): number {
  return ratio >= 1 ? 0x1_0000_0000 : ratio <= 0 ? 0 : Math.floor(ratio * 0x1_0000_0000);
}

/** The low 32 bits of a trace id (32 hex digits), which `jobSampled` mixes with the seq. */
export function traceIdLow(traceId: string): number {
  return Number.parseInt(traceId.slice(24), 16) | 0;
}

/**
 * Whether the job `seq` of a batch whose trace id's low bits are `low` is sampled: a hash of the
 * two (murmur3's finalizer) under the threshold. A few integer operations and no allocation, so
 * it can run for each of 100,000 jobs a second; the same for every attempt of a job, so a job is
 * traced on all its attempts or on none; spread evenly over consecutive seqs.
 */
export function jobSampled(low: number, seq: number, threshold: number): boolean {
  let h = low ^ Math.imul(seq | 0, 0x9e3779b1) ^ ((seq / 0x1_0000_0000) | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0 < threshold;
}

let active: Tracing | undefined;
let starting: Promise<Tracing | undefined> | undefined;
/** Whether `startTracing` made its tracer OpenTelemetry's global one (`stopTracing` undoes that). */
let registeredGlobal = false;

/** This process's tracing, or undefined when it is off (no endpoint configured, or not started). */
export function tracing(): Tracing | undefined {
  return active;
}

export interface StartTracingOptions {
  /**
   * Start the export thread now, when the sampler samples at all, rather than with the first
   * span: for a role that traces from its first job (the ventilator, the sink), so that the
   * thread's start, a few hundred ms of CPU, comes with the role's own start and not in the
   * middle of its first batch.
   */
  startExport?: boolean;
}

/**
 * Starts tracing for a role (`ventilator`, `worker`, `sink`, `submit`, ...) when the environment
 * asks for it: spans are made here, and exported by the SDK in a thread of the process's own
 * (span-export-thread.ts), started with the first span unless `options.startExport` asks for it
 * now; the API's global tracer provider makes its spans the same way. Without an endpoint it
 * starts nothing and resolves undefined. Started once per process: later
 * calls get the first.
 */
export function startTracing(role: string, env: NodeJS.ProcessEnv = process.env, options: StartTracingOptions = {}): Promise<Tracing | undefined> {
  if (!tracingWanted(env)) return Promise.resolve(undefined);
  starting ??= Promise.resolve().then(() => {
    const settings = samplerSettings(env);
    otlpProtocol(env); // checked here, where a bad value stops the role, not in the export thread
    const shipper = new ThreadShipper(role, env);
    if (options.startExport && settings.ratio > 0) shipper.start();
    const started = new RecordingTracing(role, settings, shipper);
    const tracer = new ApiTracer(started);
    const provider: TracerProvider = { getTracer: () => tracer };
    // Not when the process registered an SDK of its own first: then that one stays.
    registeredGlobal = trace.setGlobalTracerProvider(provider);
    return (active = started);
  });
  return starting;
}

/** Flushes and stops this process's tracing, if it was started. */
export async function stopTracing(): Promise<void> {
  const started = await starting;
  starting = undefined;
  active = undefined;
  if (!started) return;
  await started.shutdown();
  if (registeredGlobal) trace.disable();
  registeredGlobal = false;
}

/**
 * A tracing of a role with these sampler settings whose spans go, as the SDK's `ReadableSpan`s,
 * straight to `exporter` (an `InMemorySpanExporter` in tests), in this thread and one at a time.
 * Not this process's `tracing()`.
 */
export async function tracingWith(role: string, settings: SamplerSettings, exporter: SpanExporter): Promise<Tracing> {
  const { readableSpans } = await import('./span-records.js');
  const toSpan = readableSpans(role);
  const shipper: SpanShipper = {
    ship: (record) => exporter.export([toSpan(record)], () => {}),
    flush: async () => {
      await exporter.forceFlush?.();
    },
    shutdown: () => exporter.shutdown(),
  };
  return new RecordingTracing(role, settings, shipper);
}

/** One batch's trace in the ventilator: its span's context (its jobs' parent) and what `jobSampled` needs. */
interface BatchTrace {
  context: SpanContext;
  low: number;
}

/** The dispatch span of a pack with sampled jobs, ended once the pack has left. */
export interface PackTrace {
  /** Each sampled job's `traceparent` (the pack's dispatch span), by seq: what the Jobs frame carries. */
  readonly traceparents: Map<number, string>;
  /** Ends the span with these jobs as the ones that left; dropped unexported when no sampled one did. */
  end(sent: readonly { seq: number }[], error?: unknown): void;
}

/**
 * The ventilator's side (one per pipeline lane): a span per batch, child of the submitter's
 * context, and a dispatch span per pack that carries sampled jobs, child of the batch's: the
 * pack's write-ahead and send, which its jobs share (OpenTelemetry's messaging conventions: one
 * span for a batch sent, its messages' context). The per-job decision is `jobSampled`; an
 * unsampled parent leaves every job of its batch unsampled when the sampler is parent-based. A
 * sampled parent does not sample every job: the ratio applies to each job under it, so a batch
 * of a million jobs submitted in a sampled trace costs 1% of its jobs.
 */
export class JobSampler {
  readonly #t: Tracing;
  readonly #pipeline: string;
  readonly #threshold: number;
  readonly #batches = new Map<string, BatchTrace>();

  constructor(t: Tracing, pipeline: string) {
    this.#t = t;
    this.#pipeline = pipeline;
    this.#threshold = sampleThreshold(t.sampler.ratio);
  }

  /** A batch (or bucket of single jobs) begins here, submitted with this traceparent or none. */
  beginBatch(batch: string, traceparent?: string, tracestate?: string): void {
    if (this.#threshold === 0 || this.#batches.has(batch)) return;
    const parent = parseTraceparent(traceparent, tracestate);
    if (parent && this.#t.sampler.parentBased && !(parent.traceFlags & TraceFlags.SAMPLED)) return;
    const span = this.#t.startSpan(`batch ${this.#pipeline}`, SpanKind.INTERNAL, { 'jobpipe.pipeline': this.#pipeline, 'jobpipe.batch': batch }, parent);
    const spanContext = span.spanContext();
    this.#batches.set(batch, { context: spanContext, low: traceIdLow(spanContext.traceId) });
    // The batch's span covers its start: its jobs' spans follow it in time, as children.
    span.end();
  }

  /** The batch is done here: its jobs are sampled no more. */
  forget(batch: string): void {
    this.#batches.delete(batch);
  }

  /** The batches traced now. */
  get size(): number {
    return this.#batches.size;
  }

  /**
   * The pack's dispatch span, started at `startTime` (epoch ms), and the traceparent it gives the
   * pack's sampled jobs; undefined when none is sampled (no allocation then).
   */
  pack(batch: string, jobs: readonly { seq: number }[], startTime: number): PackTrace | undefined {
    const traced = this.#batches.get(batch);
    if (!traced) return undefined;
    const threshold = this.#threshold;
    let sampled: number[] | undefined;
    for (let i = 0; i < jobs.length; i++) {
      const seq = jobs[i]!.seq;
      if (jobSampled(traced.low, seq, threshold)) (sampled ??= []).push(seq);
    }
    if (!sampled) return undefined;
    const span = this.#t.startSpan(
      `dispatch ${this.#pipeline}`,
      SpanKind.PRODUCER,
      { 'jobpipe.pipeline': this.#pipeline, 'jobpipe.batch': batch },
      traced.context,
      startTime,
    );
    const traceparent = formatTraceparent(span.spanContext());
    const traceparents = new Map<number, string>();
    for (const seq of sampled) traceparents.set(seq, traceparent);
    // Counted now: the dispatcher may put part of `jobs` back (a frame too large) before it sends.
    const packed = jobs.length;
    return {
      traceparents,
      end(sent, error) {
        // The whole pack left (nearly always), or part of it: the sampled jobs that did.
        const left = sent.length === packed ? sampled : sampled.filter((seq) => sent.some((job) => job.seq === seq));
        if (left.length === 0) return;
        span.setAttributes({ 'jobpipe.seqs': left, 'messaging.batch.message_count': sent.length });
        if (error !== undefined) span.setStatus({ code: 2, message: String((error as Error)?.message ?? error) });
        span.end();
      },
    };
  }
}

/**
 * A span for one message that arrived with a sampled `traceparent`, child of that context;
 * undefined for any other, or when tracing is off. Never a root: a job without a trace field is
 * not traced downstream. (The sink takes `sampledParent` itself, as it makes two spans of one
 * context; bench/tracing-cost.mjs measures a span made this way.)
 */
export function childSpan(
  t: Tracing | undefined,
  name: string,
  traceparent: string | undefined,
  kind: SpanKind,
  attributes: Attributes,
  tracestate?: string,
): Span | undefined {
  const parent = t && sampledParent(traceparent, tracestate);
  return parent && t.startSpan(name, kind, attributes, parent);
}

/** A span's context as a `traceparent`, or undefined for a span that is not recording. */
export function traceparentOf(span: Span): string | undefined {
  const spanContext = span.spanContext();
  return isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
}

export { SpanKind };
export type { Span };
