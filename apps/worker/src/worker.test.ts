import { afterEach, describe, expect, it } from 'vitest';
import { Pull, Router } from 'zeromq';
import { OptionError } from '@jobpipe/config';
import { Metrics, metricValue } from '@jobpipe/observability';
import { definePipeline } from '@jobpipe/pipeline';
import { decode, encode, type JobResult, type Message } from '@jobpipe/protocol';
import { createExecutor } from './executor.js';
import { Worker } from './worker.js';

const pipeline = definePipeline({
  name: 'squares',
  split: function* (n: number) {
    for (let i = 0; i < n; i++) yield i;
  },
  work: (x: number) => {
    if (x < 0) throw new RangeError('negative');
    return x * x;
  },
});

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function decoded(frame: Buffer | undefined): Message {
  const result = decode(frame!);
  if (!result.ok) throw result.error;
  return result.message;
}

/** The role in one process, over inproc: a fake ventilator (ROUTER) and a fake sink (PULL). */
async function rig(name: string) {
  const endpoints = { jobsConnect: `inproc://${name}-jobs`, resultsConnect: `inproc://${name}-results` };
  const ventilator = new Router({ linger: 0 });
  const sink = new Pull({ linger: 0 });
  await ventilator.bind(endpoints.jobsConnect);
  await sink.bind(endpoints.resultsConnect);
  const metrics = new Metrics({ defaultMetrics: false });
  const executor = createExecutor({ pipeline, pipelinePath: '', threads: 0, timeoutMs: 1000, watchdog: false });
  const worker = new Worker({ pipeline, executor, workerId: 'w1', concurrency: 2, heartbeatMs: 50, drainTimeoutMs: 2000, metrics, ...endpoints });
  closers.push(
    () => ventilator.close(),
    () => sink.close(),
    () => worker.stop(),
  );
  /** The worker's next control message, and the routing id it came from. */
  const fromWorker = async () => {
    const [routingId, frame] = await ventilator.receive();
    return { routingId: routingId!, message: decoded(frame) };
  };
  return { worker, ventilator, sink, metrics, fromWorker };
}

describe('Worker', () => {
  it('is built from a pipeline alone, every other option defaulted and checked', async () => {
    const worker = new Worker({ pipeline });
    closers.push(() => worker.options.executor.close());
    expect(worker.options).toMatchObject({ concurrency: 1, threads: 0, timeoutMs: 300_000, prefetchMs: 50, jobsConnect: 'tcp://127.0.0.1:5557' });
    expect(worker.ready).toBe(false);
    expect(() => new Worker({ pipeline, concurrency: 0 })).toThrow(OptionError);
    expect(() => new Worker({ pipeline, jobsConnect: 'localhost:5557' })).toThrow(/invalid worker option jobsConnect \(JOBPIPE_JOBS_CONNECT/);
  });

  it('holds 32 MiB of Jobs messages at most by default, the message limit when larger, and never less than it', () => {
    const workers = [new Worker({ pipeline }), new Worker({ pipeline, maxMessageBytes: 64 * 1024 * 1024 })];
    closers.push(...workers.map((worker) => () => worker.options.executor.close()));
    expect(workers.map((worker) => worker.options.creditBytes)).toEqual([32 * 1024 * 1024, 64 * 1024 * 1024]);
    expect(() => new Worker({ pipeline, maxMessageBytes: 8192, creditBytes: 4096 })).toThrow(/creditBytes \(JOBPIPE_CREDIT_BYTES.*below maxMessageBytes/);
  });

  it('asks for credit, runs the jobs it is sent and pushes their results, a throw as a failed result', async () => {
    const { worker, ventilator, sink, metrics, fromWorker } = await rig('run');
    worker.start();
    expect(worker.ready).toBe(true);
    const first = await fromWorker();
    // A version 2 Credit, one lane for its pipeline (PROTOCOL.md 3.3), with credit in bytes too
    // (PROTOCOL.md 4a): its whole window, none of it received yet.
    expect(first.message).toMatchObject({
      type: 'Credit',
      version: 2,
      worker: 'w1',
      pipelines: { squares: { received: 0, grantedBytes: worker.options.creditBytes, receivedBytes: 0 } },
    });
    expect(Object.keys((first.message as unknown as { pipelines: object }).pipelines)).toEqual(['squares']);
    expect((first.message as unknown as { pipelines: { squares: { granted: number } } }).pipelines.squares.granted).toBeGreaterThanOrEqual(2);
    const job = (seq: number, payload: number) => ({ batch: 'b1', seq, attempt: 1, dispatchedAt: Date.now(), payload });
    await ventilator.send([first.routingId, encode({ type: 'Jobs', pipeline: 'squares', jobs: [job(0, 3), job(1, -1)] })]);
    const results: { seq: number; ok: boolean; value?: unknown; error?: { name: string } }[] = [];
    while (results.length < 2) {
      const message = decoded((await sink.receive())[0]);
      if (message.type !== 'Results') throw new Error(`expected Results, got ${message.type}`);
      expect(message.worker).toBe('w1');
      results.push(...message.results);
    }
    results.sort((a, b) => a.seq - b.seq);
    expect(results[0]).toMatchObject({ seq: 0, ok: true, value: 9 });
    expect(results[1]).toMatchObject({ seq: 1, ok: false, error: { name: 'RangeError' } });
    expect(metricValue(await metrics.registry.metrics(), 'jobpipe_worker_slots', { pipeline: 'squares' })).toBe(2);
  });

  it("fails jobs of another pipeline with WrongPipeline rather than run them with this pipeline's handler", async () => {
    const { worker, ventilator, sink, fromWorker } = await rig('wrong');
    worker.start();
    const { routingId } = await fromWorker();
    await ventilator.send([
      routingId,
      encode({ type: 'Jobs', pipeline: 'thumbnails', jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 1, payload: 2 }] }),
    ]);
    const message = decoded((await sink.receive())[0]);
    expect(message).toMatchObject({ type: 'Results', results: [{ seq: 0, ok: false, error: { name: 'WrongPipeline' } }] });
  });

  it('drains on stop: sends Drain, waits for Drained, and closes', async () => {
    const { worker, ventilator, fromWorker } = await rig('drain');
    worker.start();
    const { routingId } = await fromWorker();
    const stopped = worker.stop();
    let drain: Message | undefined;
    while (drain?.type !== 'Drain') drain = (await fromWorker()).message;
    expect(drain).toMatchObject({ worker: 'w1', received: 0 });
    expect(worker.ready).toBe(false);
    await ventilator.send([routingId, encode({ type: 'Drained', sent: 0 })]);
    await stopped;
  });

  it("names its handler span on a traced job's result and sends the span with it, ok or failed; copies the context otherwise (PROTOCOL.md 3.1, 3.2)", async () => {
    const { worker, ventilator, sink, fromWorker } = await rig('trace');
    worker.start();
    const { routingId } = await fromWorker();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
    const unsampled = `00-${traceId}-00f067aa0ba902b7-00`;
    const job = (seq: number, payload: number, trace: object) => ({ batch: 'b1', seq, attempt: 1, dispatchedAt: Date.now(), payload, ...trace });
    const before = Date.now();
    await ventilator.send([
      routingId,
      encode({
        type: 'Jobs',
        pipeline: 'squares',
        jobs: [job(0, 3, { traceparent, tracestate: 'k=v' }), job(1, -1, { traceparent }), job(2, 4, {}), job(4, 5, { traceparent: unsampled })],
      }),
    ]);
    await ventilator.send([routingId, encode({ type: 'Jobs', pipeline: 'thumbnails', jobs: [job(3, 1, { traceparent })] })]);
    const results: JobResult[] = [];
    while (results.length < 5) {
      const message = decoded((await sink.receive())[0]);
      if (message.type === 'Results') results.push(...message.results);
    }
    const after = Date.now();
    results.sort((a, b) => a.seq - b.seq);
    const [done, failed, untraced, wrongPipeline, notSampled] = results as [JobResult, JobResult, JobResult, JobResult, JobResult];
    // Ran traced (ok and failed): a new span of the job's trace, its parts on the result for the sink.
    for (const result of [done, failed]) {
      expect(result.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(result.traceparent).not.toBe(traceparent);
      expect(result.handlerSpan?.parentSpanId).toBe('00f067aa0ba902b7');
      expect(result.handlerSpan?.startedAt).toBeGreaterThanOrEqual(before);
      expect(result.handlerSpan!.startedAt + result.durationMs).toBeLessThanOrEqual(after + 1);
    }
    expect(done.traceparent).not.toBe(failed.traceparent);
    expect([done.ok, done.tracestate, failed.ok, failed.tracestate]).toEqual([true, 'k=v', false, undefined]);
    // No trace field on an untraced job's result; the job's own context on one that never ran or is not sampled.
    expect('traceparent' in untraced || 'handlerSpan' in untraced).toBe(false);
    expect([wrongPipeline.traceparent, 'handlerSpan' in wrongPipeline]).toEqual([traceparent, false]);
    expect([notSampled.traceparent, 'handlerSpan' in notSampled]).toEqual([unsampled, false]);
  });
});
