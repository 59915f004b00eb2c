import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import {
  childSpan,
  JobSampler,
  SpanKind,
  traceparentOf,
  tracingWith,
  formatTraceparent,
  jobSampled,
  parseTraceparent,
  sampleThreshold,
  samplerSettings,
  startTracing,
  traceIdLow,
  traceparentSampled,
  tracing,
  tracingWanted,
  otlpProtocol,
} from './tracing.js';
import { hrTime } from './span-records.js';
import { ApiTracer, type RecordingTracing } from './recorded-spans.js';
import { context, trace } from '@opentelemetry/api';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('the per-job sampling decision', () => {
  const share = (ratio: number, trace = TRACE, jobs = 200_000, first = 0): number => {
    const low = traceIdLow(trace);
    const threshold = sampleThreshold(ratio);
    let sampled = 0;
    for (let seq = first; seq < first + jobs; seq++) if (jobSampled(low, seq, threshold)) sampled++;
    return sampled / jobs;
  };

  it('samples about the ratio of consecutive jobs, whatever the trace', () => {
    for (const trace of [TRACE, `${'0'.repeat(31)}1`, 'f'.repeat(32), 'ffffffffffffffffffffffff00000000']) {
      expect(share(0.01, trace)).toBeGreaterThan(0.009);
      expect(share(0.01, trace)).toBeLessThan(0.011);
      expect(share(0.5, trace)).toBeGreaterThan(0.49);
      expect(share(0.5, trace)).toBeLessThan(0.51);
    }
    // Seqs past 2^32 too.
    expect(share(0.1, TRACE, 100_000, 2 ** 40)).toBeGreaterThan(0.09);
    expect(share(0.1, TRACE, 100_000, 2 ** 40)).toBeLessThan(0.11);
  });

  it('samples every job at 1 and none at 0', () => {
    expect(share(1, TRACE, 10_000)).toBe(1);
    expect(share(0, TRACE, 10_000)).toBe(0);
    expect(sampleThreshold(2)).toBe(2 ** 32);
    expect(sampleThreshold(-1)).toBe(0);
  });

  it('decides the same for a job every time (all its attempts, every ventilator), and differently across batches', () => {
    const low = traceIdLow(TRACE);
    const threshold = sampleThreshold(0.05);
    const once = Array.from({ length: 5000 }, (_, seq) => jobSampled(low, seq, threshold));
    const again = Array.from({ length: 5000 }, (_, seq) => jobSampled(low, seq, threshold));
    expect(again).toEqual(once);
    const other = Array.from({ length: 5000 }, (_, seq) => jobSampled(traceIdLow('1'.repeat(32)), seq, threshold));
    expect(other).not.toEqual(once);
  });
});

describe('the sampler settings', () => {
  it('reads OTEL_TRACES_SAMPLER and its argument, parent-based always on by default', () => {
    expect(samplerSettings({})).toEqual({ ratio: 1, parentBased: true });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' })).toEqual({ ratio: 0.01, parentBased: true });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' })).toEqual({ ratio: 0.5, parentBased: false });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toEqual({ ratio: 1, parentBased: false });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'always_off' })).toEqual({ ratio: 0, parentBased: false });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' })).toEqual({ ratio: 0, parentBased: true });
    expect(samplerSettings({ OTEL_TRACES_SAMPLER: 'always_on' })).toEqual({ ratio: 1, parentBased: false });
  });

  it('refuses an unknown sampler and a ratio outside 0 to 1', () => {
    expect(() => samplerSettings({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toThrow(/invalid OTEL_TRACES_SAMPLER/);
    expect(() => samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(/invalid OTEL_TRACES_SAMPLER_ARG/);
    expect(() => samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' })).toThrow(/invalid OTEL_TRACES_SAMPLER_ARG/);
  });
});

describe('traceparent', () => {
  it('parses a version 00 traceparent and writes it back', () => {
    const parsed = parseTraceparent(TP, 'vendor=x');
    expect(parsed).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    expect(parsed?.traceState?.serialize()).toBe('vendor=x');
    expect(formatTraceparent(parsed!)).toBe(TP);
    expect(traceparentSampled(TP)).toBe(true);
    expect(traceparentSampled(`${TP.slice(0, -2)}00`)).toBe(false);
  });

  it('refuses what is not one: other versions, upper case, all-zero ids', () => {
    for (const bad of [
      undefined,
      '',
      TP.toUpperCase(),
      `01${TP.slice(2)}`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `${TP}-x`,
    ])
      expect(parseTraceparent(bad)).toBeUndefined();
  });
});

describe('startTracing', () => {
  it('without an OTLP endpoint loads nothing and leaves tracing off', async () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toBe(true);
    expect(await startTracing('worker', {})).toBeUndefined();
    expect(tracing()).toBeUndefined();
  });
});

describe("JobSampler and childSpan (the roles' spans)", () => {
  async function traced(ratio: number, parentBased = true) {
    const exporter = new InMemorySpanExporter();
    const t = await tracingWith('ventilator', { ratio, parentBased }, exporter);
    return { t, exporter, sampler: new JobSampler(t, 'p') };
  }
  const jobs = (n: number) => Array.from({ length: n }, (_, seq) => ({ seq, attempt: 1 }));

  it("makes the batch a child of the submitter's span, and a pack's dispatch, shared by its sampled jobs, a child of the batch", async () => {
    const { t, exporter, sampler } = await traced(1);
    sampler.beginBatch('b', TP);
    const pack = sampler.pack('b', jobs(3), 1000)!;
    expect([...pack.traceparents.keys()]).toEqual([0, 1, 2]);
    pack.end(jobs(2));
    const spans = exporter.getFinishedSpans();
    const batch = spans.find((s) => s.name === 'batch p')!;
    expect(batch.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(batch.spanContext().traceId).toBe(TRACE);
    const dispatches = spans.filter((s) => s.name === 'dispatch p');
    expect(dispatches).toHaveLength(1);
    const [dispatch] = dispatches;
    // Seq 2 did not leave (put back for a later pack): the span names the jobs that did.
    expect(dispatch!.attributes).toEqual({ 'jobpipe.pipeline': 'p', 'jobpipe.batch': 'b', 'jobpipe.seqs': [0, 1], 'messaging.batch.message_count': 2 });
    expect(dispatch!.parentSpanContext?.spanId).toBe(batch.spanContext().spanId);
    expect(dispatch!.startTime).toEqual([1, 0]);
    for (const seq of [0, 1, 2]) expect(pack.traceparents.get(seq)).toBe(`00-${TRACE}-${dispatch!.spanContext().spanId}-01`);
    // Downstream: a child of a job's traceparent, exported whatever the ratio (the ventilator decided).
    const handle = childSpan(t, 'handle p', pack.traceparents.get(0), SpanKind.CONSUMER, {})!;
    handle.end();
    expect(traceparentOf(handle)).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(exporter.getFinishedSpans().at(-1)?.parentSpanContext?.spanId).toBe(dispatch!.spanContext().spanId);
    // Not for an unsampled or absent traceparent.
    expect(childSpan(t, 'handle p', `${TP.slice(0, -2)}00`, SpanKind.CONSUMER, {})).toBeUndefined();
    expect(childSpan(t, 'handle p', undefined, SpanKind.CONSUMER, {})).toBeUndefined();
    expect(childSpan(undefined, 'handle p', TP, SpanKind.CONSUMER, {})).toBeUndefined();
    await t.shutdown();
  });

  it("exports no dispatch span for a pack none of whose sampled jobs left, and marks a failed send's", async () => {
    const { t, exporter, sampler } = await traced(1);
    sampler.beginBatch('b');
    sampler.pack('b', jobs(3), 1000)!.end([]);
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'dispatch p')).toEqual([]);
    sampler.pack('b', jobs(3), 1000)!.end(jobs(3), new Error('host unreachable'));
    const [failed] = exporter.getFinishedSpans().filter((s) => s.name === 'dispatch p');
    expect(failed!.status).toEqual({ code: 2, message: 'host unreachable' });
    expect(failed!.attributes['jobpipe.seqs']).toEqual([0, 1, 2]);
    await t.shutdown();
  });

  it('samples about the ratio of jobs, allocating nothing for a pack with none sampled', async () => {
    const { t, sampler } = await traced(0.05);
    sampler.beginBatch('b');
    let sampled = 0;
    let empty = 0;
    for (let first = 0; first < 20_000; first += 10) {
      const pack = sampler.pack(
        'b',
        Array.from({ length: 10 }, (_, i) => ({ seq: first + i, attempt: 1 })),
        0,
      );
      if (pack) sampled += pack.traceparents.size;
      else empty++;
    }
    expect(sampled).toBeGreaterThan(850);
    expect(sampled).toBeLessThan(1150);
    expect(empty).toBeGreaterThan(1000);
    // A batch not begun here (or forgotten) has no trace.
    sampler.forget('b');
    expect(sampler.pack('b', jobs(100), 0)).toBeUndefined();
    await t.shutdown();
  });

  it('parent-based: an unsampled submitter leaves its batch untraced; not parent-based, it does not', async () => {
    const unsampled = `${TP.slice(0, -2)}00`;
    const parentBased = await traced(1, true);
    parentBased.sampler.beginBatch('b', unsampled);
    expect(parentBased.sampler.pack('b', jobs(10), 0)).toBeUndefined();
    const ratio = await traced(1, false);
    ratio.sampler.beginBatch('b', unsampled);
    expect(ratio.sampler.pack('b', jobs(10), 0)?.traceparents.size).toBe(10);
    // Off entirely at 0.
    const off = await traced(0);
    off.sampler.beginBatch('b', TP);
    expect(off.sampler.pack('b', jobs(10), 0)).toBeUndefined();
    expect(off.exporter.getFinishedSpans()).toEqual([]);
    await Promise.all([parentBased.t.shutdown(), ratio.t.shutdown(), off.t.shutdown()]);
  });
});

describe("the roles' spans as the SDK's", () => {
  it('carry their parent, tracestate, status and times, and are exported once when ended twice', async () => {
    const exporter = new InMemorySpanExporter();
    const t = await tracingWith('worker', { ratio: 1, parentBased: true }, exporter);
    const before = Date.now();
    const span = childSpan(t, 'handle p', TP, SpanKind.CONSUMER, { 'jobpipe.seq': 7 }, 'vendor=abc')!;
    span.setAttribute('jobpipe.ok', false);
    span.setStatus({ code: 2, message: 'TypeError: bad' });
    span.end();
    span.end();
    span.setAttribute('jobpipe.late', true);
    const [exported, ...more] = exporter.getFinishedSpans();
    expect(more).toEqual([]);
    expect(exported!.name).toBe('handle p');
    expect(exported!.kind).toBe(SpanKind.CONSUMER);
    expect(exported!.resource.attributes['service.name']).toBe('jobpipe-worker');
    expect(exported!.parentSpanContext).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7', isRemote: true });
    expect(exported!.spanContext().traceState?.get('vendor')).toBe('abc');
    expect(exported!.attributes).toEqual({ 'jobpipe.seq': 7, 'jobpipe.ok': false });
    expect(exported!.status).toEqual({ code: 2, message: 'TypeError: bad' });
    const [seconds, nanos] = exported!.startTime;
    expect(seconds * 1000 + nanos / 1e6).toBeGreaterThanOrEqual(before - 1);
    expect(nanos).toBeLessThan(1e9);
    await t.shutdown();
  });

  it("exports a span made elsewhere as its own role's: a worker's handler span that the sink exports", async () => {
    const exporter = new InMemorySpanExporter();
    const t = await tracingWith('sink', { ratio: 1, parentBased: true }, exporter);
    const common = { kind: SpanKind.CONSUMER, traceId: TRACE, startMs: 1_700_000_000_000, endMs: 1_700_000_000_012.5, statusCode: 0 };
    t.exportSpan({
      ...common,
      role: 'worker',
      name: 'handle p',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '00f067aa0ba902b7',
      attributes: { 'jobpipe.seq': 7 },
    });
    t.exportSpan({ ...common, name: 'record p', spanId: '53995c3f42cd8ad8', parentSpanId: 'b7ad6b7169203331', attributes: {} });
    const [handle, record] = exporter.getFinishedSpans();
    expect([handle!.resource.attributes['service.name'], handle!.resource.attributes['jobpipe.role']]).toEqual(['jobpipe-worker', 'worker']);
    expect(record!.resource.attributes['service.name']).toBe('jobpipe-sink');
    expect(handle!.parentSpanContext).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7' });
    expect([handle!.startTime, handle!.endTime]).toEqual([hrTime(1_700_000_000_000), hrTime(1_700_000_000_012.5)]);
    await t.shutdown();
  });

  it('turns epoch milliseconds into whole seconds and nanoseconds', () => {
    expect(hrTime(1_700_000_000_123.5)).toEqual([1_700_000_000, 123_500_000]);
    expect(hrTime(999.9999999999)).toEqual([1, 0]);
    expect(hrTime(0)).toEqual([0, 0]);
  });
});

describe('the API tracer a role registers (code using OpenTelemetry in its process)', () => {
  it('records a sampled parent’s child and a root at the ratio; an unsampled parent’s child only passes the context on', async () => {
    const exporter = new InMemorySpanExporter();
    const t = await tracingWith('worker', { ratio: 1, parentBased: true }, exporter);
    const tracer = new ApiTracer(t as RecordingTracing);
    const sampledParent = trace.setSpanContext(context.active(), parseTraceparent(TP)!);
    // What OpenTelemetry's attributes cannot hold is dropped, as the SDK drops it.
    const odd = { nested: { deep: 1 }, call: () => 1, '': 'no key' } as unknown as Record<string, string>;
    const child = tracer.startSpan('lookup', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'redis', ...odd } }, sampledParent);
    child.setAttribute('again', { deep: 2 } as unknown as string);
    child.addEvent('retry', { attempt: 2 });
    child.recordException(new TypeError('gone'));
    child.end();
    const value = tracer.startActiveSpan('root', (span) => {
      span.end();
      return 42;
    });
    expect(value).toBe(42);
    const unsampledParent = trace.setSpanContext(context.active(), parseTraceparent(`${TP.slice(0, -2)}00`)!);
    const passed = tracer.startSpan('quiet', {}, unsampledParent);
    passed.end();
    expect(passed.isRecording()).toBe(false);
    expect(passed.spanContext().traceId).toBe(TRACE);
    expect(passed.spanContext().traceFlags).toBe(0);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['lookup', 'root']);
    expect(spans[0]!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(spans[0]!.attributes).toEqual({ 'db.system': 'redis' });
    expect(spans[0]!.events.map((e) => [e.name, e.attributes?.['attempt'] ?? e.attributes?.['exception.type']])).toEqual([
      ['retry', 2],
      ['exception', 'TypeError'],
    ]);
    expect(spans[1]!.parentSpanContext).toBeUndefined();
    // Not parent-based at 0: nothing is recorded, whatever the parent said.
    const off = new ApiTracer((await tracingWith('worker', { ratio: 0, parentBased: false }, exporter)) as RecordingTracing);
    expect(off.startSpan('x', {}, sampledParent).isRecording()).toBe(false);
    expect(off.startSpan('y').isRecording()).toBe(false);
    expect(exporter.getFinishedSpans()).toHaveLength(2);
    await t.shutdown();
  });
});

describe('the OTLP protocol', () => {
  it('is http/protobuf, the standard default, unless the standard variables ask for http/json; grpc and others are refused', () => {
    expect(otlpProtocol({})).toBe('http/protobuf');
    expect(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: ' ' })).toBe('http/protobuf');
    expect(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/JSON' })).toBe('http/json');
    expect(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' })).toBe('http/protobuf');
    expect(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })).toBe('http/json');
    expect(() => otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL.*"grpc"/);
    expect(() => otlpProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http' })).toThrow(/OTEL_EXPORTER_OTLP_TRACES_PROTOCOL/);
  });
});
