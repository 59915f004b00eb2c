/**
 * Tracing (docs/architecture.md, "Tracing"): with OTEL_EXPORTER_OTLP_ENDPOINT set, a batch
 * submitted with a known W3C traceparent runs in that trace. A plain HTTP server here receives the
 * OTLP/HTTP exports (protobuf, the default, and JSON where a test asks for it) of a real
 * ventilator, worker and sink; one job's spans from the three processes (told apart by
 * service.name) share the submitter's trace id and form one parent chain from the submitter's
 * span: batch (ventilator) -> dispatch (ventilator; one for the sampled jobs of a pack,
 * `jobpipe.seqs`) -> handle (worker) -> record (sink). The worker's handler spans travel on its
 * results and the sink exports them (PROTOCOL.md 3.2, "The handler's span"), so a worker needs no
 * tracing settings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { echoPipeline, primesPipeline, runCli, waitFor } from './helpers.js';
import { durableSuite, startDurable, uniquePrefix } from './durable-helpers.js';
import { JobpipeClient, type BatchRequest } from '@jobpipe/intake';
import { Redis } from 'ioredis';
import { jobSampled, sampleThreshold, traceIdLow } from '@jobpipe/observability';
import { startPythonWorker } from './python-worker-process.js';

const suite = durableSuite('tracing');

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SUBMITTER_SPAN = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${SUBMITTER_SPAN}-01`;

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: OtlpAttribute[];
}
interface OtlpExport {
  resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}
/** A span as received, with its process's service.name and its attributes as plain values. */
interface Received {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, Plain>;
}
type Plain = string | number | boolean | Plain[];

function plain(value: OtlpValue): Plain {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(plain);
  return value.boolValue ?? '';
}

/** The jobs a span is of: a handle or record span's `jobpipe.seq`, a dispatch span's `jobpipe.seqs` (its pack's sampled jobs). */
function seqsIn(span: Received): number[] {
  const { 'jobpipe.seq': seq, 'jobpipe.seqs': seqs } = span.attributes;
  if (typeof seq === 'number') return [seq];
  return Array.isArray(seqs) ? seqs.filter((item): item is number => typeof item === 'number') : [];
}

/** The seqs named by a service's spans of a batch, one entry per span and job. */
const seqsOf = (spans: readonly Received[], service: string, batch: string): number[] =>
  spans.filter((s) => s.service === service && s.attributes['jobpipe.batch'] === batch).flatMap(seqsIn);

/** Protobuf's wire format, read as far as OTLP's trace export needs: each field's number and value. */
function* protoFields(bytes: Buffer): Generator<{ field: number; value: Buffer | bigint }> {
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const wireType = key & 7;
    if (wireType === 0) yield { field: key >> 3, value: varint() };
    else if (wireType === 1) yield { field: key >> 3, value: bytes.subarray(at, (at += 8)) };
    else if (wireType === 5) yield { field: key >> 3, value: bytes.subarray(at, (at += 4)) };
    else if (wireType === 2) {
      const length = Number(varint());
      yield { field: key >> 3, value: bytes.subarray(at, (at += length)) };
    } else throw new Error(`protobuf wire type ${wireType} is not OTLP's`);
  }
}

const protoMessages = (bytes: Buffer, field: number): Buffer[] =>
  [...protoFields(bytes)].filter((f) => f.field === field && Buffer.isBuffer(f.value)).map((f) => f.value as Buffer);

/** An OTLP AnyValue (string 1, bool 2, int 3, array 5: its values 1) as the JSON form's. */
function protoValue(bytes: Buffer): OtlpValue {
  const value: OtlpValue = {};
  for (const { field, value: raw } of protoFields(bytes)) {
    if (field === 1) value.stringValue = (raw as Buffer).toString('utf8');
    else if (field === 2) value.boolValue = raw === 1n;
    else if (field === 3) value.intValue = Number(raw);
    else if (field === 5) value.arrayValue = { values: protoMessages(raw as Buffer, 1).map(protoValue) };
  }
  return value;
}

/** An OTLP KeyValue (key 1, AnyValue 2) as an attribute of the JSON form. */
function protoAttribute(bytes: Buffer): OtlpAttribute {
  const [key] = protoMessages(bytes, 1);
  const [anyValue] = protoMessages(bytes, 2);
  return { key: key?.toString('utf8') ?? '', value: protoValue(anyValue ?? Buffer.alloc(0)) };
}

/** An OTLP ExportTraceServiceRequest in protobuf, as the JSON form's objects (ids in hex, as there). */
function protoExport(bytes: Buffer): OtlpExport {
  return {
    resourceSpans: protoMessages(bytes, 1).map((resourceSpans) => ({
      resource: { attributes: protoMessages(protoMessages(resourceSpans, 1)[0] ?? Buffer.alloc(0), 1).map(protoAttribute) },
      scopeSpans: protoMessages(resourceSpans, 2).map((scopeSpans) => ({
        spans: protoMessages(scopeSpans, 2).map((span) => ({
          traceId: protoMessages(span, 1)[0]!.toString('hex'),
          spanId: protoMessages(span, 2)[0]!.toString('hex'),
          parentSpanId: protoMessages(span, 4)[0]?.toString('hex'),
          name: protoMessages(span, 5)[0]!.toString('utf8'),
          attributes: protoMessages(span, 9).map(protoAttribute),
        })),
      })),
    })),
  };
}

/** An OTLP/HTTP receiver: keeps every span of every export it is sent, JSON or protobuf. */
async function otlpReceiver(): Promise<{ server: Server; endpoint: string; spans: Received[]; contentTypes: Set<string> }> {
  const spans: Received[] = [];
  const contentTypes = new Set<string>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      contentTypes.add(String(request.headers['content-type']));
      if (request.url === '/v1/traces') {
        const bytes = Buffer.concat(chunks);
        const body = request.headers['content-type'] === 'application/x-protobuf' ? protoExport(bytes) : (JSON.parse(bytes.toString('utf8')) as OtlpExport);
        for (const resourceSpans of body.resourceSpans ?? []) {
          const resource = Object.fromEntries((resourceSpans.resource?.attributes ?? []).map((a) => [a.key, plain(a.value)]));
          for (const scope of resourceSpans.scopeSpans ?? [])
            for (const span of scope.spans ?? [])
              spans.push({
                service: String(resource['service.name']),
                name: span.name,
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId || undefined,
                attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, plain(a.value)])),
              });
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  suite.cleanup.add('OTLP receiver', () => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, contentTypes };
}

/**
 * The nice values of a process's threads that run at another than its main thread's (Linux's
 * /proc): its export thread's, when it runs one (docs/architecture.md, "Why niced").
 */
function nicedThreads(pid: number): number[] {
  const niceOf = (tid: number | string) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The fields after the command name (in parentheses): nice is the 19th field of the line.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  };
  const main = niceOf(pid);
  return readdirSync(`/proc/${pid}/task`)
    .map(niceOf)
    .filter((nice) => nice !== main);
}

/**
 * An OTLP receiver, and a durable stack (a worker) exporting to it, sampling with
 * parentbased_traceidratio at `ratio`; `workerEnv` for the worker alone.
 */
async function tracedStack(ratio: string, env: Record<string, string> = {}, workerEnv: Record<string, string> = {}) {
  const otlp = await otlpReceiver();
  const durable = await startDurable(suite.cleanup, {
    server: suite.server,
    pipeline: echoPipeline,
    workers: 1,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: ratio,
      // Exported every 100 ms rather than every 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ...env,
    },
    workerEnv: () => workerEnv,
  });
  return { otlp, durable };
}

describe('tracing', () => {
  it("one job's spans from the ventilator, the worker and the sink form one trace from the submitter's context", async () => {
    // The worker without an endpoint: its tracing is off, and its handler spans come all the same.
    const { otlp, durable } = await tracedStack('1.0', { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    // The ventilator and the sink start their export threads with them, before any job, at nice
    // 10 once the SDK is loaded; the worker, whose tracing is off, has none.
    const { ventilator, sink, workers } = durable.stack;
    const exportThreads = () => [ventilator!, sink, workers[0]!].map((role) => nicedThreads(role.child.pid!));
    await waitFor('the export threads of the ventilator and the sink, niced', () => exportThreads().flat().length === 2, 10_000);
    expect(exportThreads()).toEqual([[10], [10], []]);
    const batchId = 'traced-1';
    await durable.client.submit(durable.pipeline, { jobs: 20 }, { batchId, traceparent: TRACEPARENT });
    const summary = await durable.done(batchId);
    expect(summary.jobs).toBe(20);

    // Every job is sampled at 1.0: wait for seq 7's three spans downstream of the batch's.
    const ofJob = (service: string, seq: number) =>
      otlp.spans.find((s) => s.service === service && s.attributes['jobpipe.batch'] === batchId && seqsIn(s).includes(seq) && s.name !== `batch echo`);
    await waitFor(
      'the spans of job 7 from the three roles',
      () => ofJob('jobpipe-ventilator', 7) && ofJob('jobpipe-worker', 7) && ofJob('jobpipe-sink', 7),
      10_000,
    );
    const batchSpan = otlp.spans.find((s) => s.service === 'jobpipe-ventilator' && s.attributes['jobpipe.batch'] === batchId && s.name.startsWith('batch '));
    const dispatch = ofJob('jobpipe-ventilator', 7)!;
    const handle = ofJob('jobpipe-worker', 7)!;
    const record = ofJob('jobpipe-sink', 7)!;
    expect(batchSpan).toBeDefined();
    expect([dispatch.name, handle.name, record.name]).toEqual(['dispatch echo', 'handle echo', 'record echo']);
    // One trace: the submitter's.
    for (const span of [batchSpan!, dispatch, handle, record]) expect(span.traceId).toBe(TRACE_ID);
    // One chain, from the submitter's span down to the sink's record.
    expect(batchSpan!.parentSpanId).toBe(SUBMITTER_SPAN);
    expect(dispatch.parentSpanId).toBe(batchSpan!.spanId);
    expect(handle.parentSpanId).toBe(dispatch.spanId);
    expect(record.parentSpanId).toBe(handle.spanId);
    expect(new Set([batchSpan!.spanId, dispatch.spanId, handle.spanId, record.spanId]).size).toBe(4);
    // The dispatch span is the pack's: it names the pack's sampled jobs and counts all of its jobs.
    expect(dispatch.attributes['messaging.batch.message_count']).toBeGreaterThanOrEqual(seqsIn(dispatch).length);
    expect(handle.attributes).toMatchObject({ 'jobpipe.ok': true, 'jobpipe.worker': 'worker-1', 'jobpipe.attempt': 1 });
    // Every job of the batch was traced, once in each role. Each process exports on its own
    // schedule, so the ventilator's last spans may come after the sink's: wait for all three.
    const services = ['jobpipe-ventilator', 'jobpipe-worker', 'jobpipe-sink'];
    await waitFor('all 20 jobs traced in each role', () => services.every((service) => new Set(seqsOf(otlp.spans, service, batchId)).size >= 20), 10_000);
    for (const service of services) {
      const seqs = seqsOf(otlp.spans, service, batchId);
      expect(new Set(seqs).size, service).toBe(20);
      expect(seqs.length, `${service}: each job in one span`).toBe(20);
    }
    expect([...otlp.contentTypes].every((type) => type.startsWith('application/json'))).toBe(true);
    // Still one export thread each: the jobs' spans started none.
    expect(exportThreads()).toEqual([[10], [10], []]);
  }, 30_000);

  it('samples per job at the ratio, and traces no job of a submission whose context is not sampled (exported in protobuf, the default)', async () => {
    const { otlp, durable } = await tracedStack('0.25', { JOBPIPE_TRACE_EXPORT_NICE: '19' });
    const unsampled = `00-${TRACE_ID}-${SUBMITTER_SPAN}-00`;
    await durable.client.submit(durable.pipeline, { jobs: 50 }, { batchId: 'not-sampled', traceparent: unsampled });
    await durable.client.submit(durable.pipeline, { jobs: 800 }, { batchId: 'ratio' });
    await durable.done('not-sampled');
    await durable.done('ratio');
    const sampledSeqs = (service: string, batch: string) => new Set(seqsOf(otlp.spans, service, batch));
    // Which jobs are sampled follows from the batch's trace id (jobSampled): wait until each role
    // has exported exactly those, as each exports on its own schedule.
    let root: (typeof otlp.spans)[number] | undefined;
    let expected = new Set<number>();
    await waitFor(
      'the spans of every sampled job in each role',
      () => {
        root ??= otlp.spans.find((s) => s.attributes['jobpipe.batch'] === 'ratio' && s.name.startsWith('batch '));
        if (!root) return false;
        const low = traceIdLow(root.traceId);
        const threshold = sampleThreshold(0.25);
        expected = new Set(Array.from({ length: 800 }, (_, seq) => seq).filter((seq) => jobSampled(low, seq, threshold)));
        return ['jobpipe-ventilator', 'jobpipe-worker', 'jobpipe-sink'].every((service) => sampledSeqs(service, 'ratio').size >= expected.size);
      },
      10_000,
    );
    // About a quarter of the 800 jobs (200; 150-250 is more than 4 standard deviations each way).
    expect(expected.size).toBeGreaterThan(150);
    expect(expected.size).toBeLessThan(250);
    for (const service of ['jobpipe-ventilator', 'jobpipe-worker', 'jobpipe-sink']) expect(sampledSeqs(service, 'ratio'), service).toEqual(expected);
    // Submitted without a context: the batch's span is the root of a trace of its own.
    expect(root?.parentSpanId).toBeUndefined();
    // The submitter said "not sampled": no span of that batch anywhere.
    expect(otlp.spans.filter((s) => s.attributes['jobpipe.batch'] === 'not-sampled')).toEqual([]);
    expect([...otlp.contentTypes]).toEqual(['application/x-protobuf']);
    // JOBPIPE_TRACE_EXPORT_NICE: the export threads run at its value instead of 10.
    expect(nicedThreads(durable.stack.ventilator!.child.pid!)).toEqual([19]);
    expect(nicedThreads(durable.stack.sink.child.pid!)).toEqual([19]);
  }, 30_000);

  it("a Python worker's handler spans join the trace: it sends them with its results and the sink exports them", async () => {
    const otlp = await otlpReceiver();
    const durable = await startDurable(suite.cleanup, {
      server: suite.server,
      pipeline: primesPipeline,
      workers: 0,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
    await startPythonWorker(suite.cleanup, 'py-traced', durable.stack.endpoints);
    // Four jobs of 5,000 numbers each.
    await durable.client.submit(durable.pipeline, { limit: 20_000, chunk: 5000 }, { batchId: 'py-traced', traceparent: TRACEPARENT });
    expect((await durable.done('py-traced')).jobs).toBe(4);
    const ofJob = (name: string, seq: number) =>
      otlp.spans.find((s) => s.name === name && s.attributes['jobpipe.batch'] === 'py-traced' && seqsIn(s).includes(seq));
    const seqs = [0, 1, 2, 3];
    await waitFor(
      'the three spans of each job',
      () => seqs.every((seq) => ofJob('dispatch primes', seq) && ofJob('handle primes', seq) && ofJob('record primes', seq)),
      10_000,
    );
    for (const seq of seqs) {
      const [dispatch, handle, record] = (['dispatch primes', 'handle primes', 'record primes'] as const).map((name) => ofJob(name, seq)!);
      expect(handle!.service).toBe('jobpipe-worker');
      expect(handle!.attributes).toMatchObject({ 'jobpipe.worker': 'py-traced', 'jobpipe.ok': true, 'jobpipe.pipeline': 'primes' });
      expect([handle!.traceId, record!.traceId]).toEqual([TRACE_ID, TRACE_ID]);
      expect(handle!.parentSpanId).toBe(dispatch!.spanId);
      expect(record!.parentSpanId).toBe(handle!.spanId);
    }
  }, 60_000);

  it('jobpipe submit --traceparent: the submission is a span of that trace, and the batch carries its context', async () => {
    const otlp = await otlpReceiver();
    const prefix = uniquePrefix('trace-submit');
    const run = await runCli(
      ['submit', '--pipeline', echoPipeline, '--input', '{"jobs":3}', '--batch-id', 'cli-traced', '--traceparent', TRACEPARENT],
      { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: prefix, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint },
      suite.cleanup,
    ).exited;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // Flushed before the command exits.
    const submit = otlp.spans.find((s) => s.service === 'jobpipe-submit');
    expect(submit).toMatchObject({ name: 'submit echo', traceId: TRACE_ID, parentSpanId: SUBMITTER_SPAN, attributes: { 'jobpipe.batch': 'cli-traced' } });
    const redis = new Redis(suite.server.url);
    const client = new JobpipeClient(redis, prefix);
    try {
      const job = await client.queue('echo').getJob('cli-traced');
      expect((job?.data as BatchRequest | undefined)?.traceparent).toBe(`00-${TRACE_ID}-${submit!.spanId}-01`);
    } finally {
      await client.close();
      redis.disconnect();
    }
    // A malformed one is refused before anything is written.
    const bad = await runCli(
      ['submit', '--pipeline', echoPipeline, '--input', '{"jobs":3}', '--traceparent', 'nope'],
      { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: prefix },
      suite.cleanup,
    ).exited;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid --traceparent: "nope" is not a W3C traceparent/);
  });
});
