import { describe, expect, it } from 'vitest';
import { MemoryResultLedger, type ResultLedger } from '@jobpipe/ledger';
import { definePipeline } from '@jobpipe/pipeline';
import type { JobResult } from '@jobpipe/protocol';
import { metricValue, SpanKind } from '@jobpipe/observability';
import { BatchBook } from './batch-book.js';
import { ParkedResults } from './parked-results.js';
import { handlerSpanRecord, MAX_WORKER_LABELS, Recorder } from './recorder.js';
import { compileSinkOptions } from './sink-options.js';

const pipeline = definePipeline({
  name: 'sum',
  split: () => [],
  work: (n: number) => n,
  init: () => 0,
  collect: (n: number, ctx: { state: number }) => void (ctx.state += n),
  summarize: (state: number) => state,
});
const ok = (batch: string, seq: number): JobResult => ({ batch, seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: 10 ** seq });

/** The memory ledger's rules, durable: it keeps values to read back, and says which calls were made. */
class TouchedLedger extends MemoryResultLedger {
  override readonly durable = true as unknown as false;
  readonly touches: string[] = [];
  readonly values = new Map<string, Map<number, unknown>>();
  failRecords = 0;
  constructor() {
    super();
    for (const name of ['knows', 'perWorker', 'complete', 'counts', 'setTotal', 'begin'] as const) {
      const own = this[name].bind(this) as (...args: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => (this.touches.push(name), own(...args));
    }
  }
  /** A batch the ventilator opened, with results recorded before this sink (re)started. */
  async already(batch: string, total: number | null, ...seqs: number[]) {
    await super.begin(batch);
    if (total !== null) await super.setTotal(batch, total);
    if (seqs.length > 0)
      await this.record(
        batch,
        'w0',
        seqs.map((seq) => ok(batch, seq)),
      );
    this.touches.length = 0;
  }
  override async record(batch: string, worker: string, results: JobResult[]) {
    this.touches.push('record');
    if (this.failRecords > 0 && this.failRecords--) throw new Error('connection lost');
    const recording = await super.record(batch, worker, results);
    results.forEach((result, i) => {
      if (recording.outcomes[i] === 'R' && result.ok) (this.values.get(batch) ?? this.values.set(batch, new Map()).get(batch)!).set(result.seq, result.value);
    });
    return recording;
  }
  override async forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>) {
    this.touches.push('forEachResult');
    for (const [seq, value] of this.values.get(batch) ?? []) await each(seq, value);
    return this.values.get(batch)?.size ?? 0;
  }
}

function recorder(ledger: ResultLedger, maxParkedResults = 100, maxParkedBytes = 1024 * 1024) {
  const o = compileSinkOptions({ pipeline, ledger, maxParkedResults, maxParkedBytes });
  const acked: string[] = [];
  const unknown: string[] = [];
  const book = new BatchBook(o, { publish: () => {}, flushAcks: () => {} });
  const r = new Recorder(o, {
    book,
    acks: { add: (batch, jobs) => void acked.push(...jobs.map((job) => `${batch}:${job.seq}`)) },
    parked: new ParkedResults({ maxResults: o.maxParkedResults, maxBytes: o.maxParkedBytes }),
    unknownBatch: (detail) => void unknown.push(detail),
    unstorable: (detail) => void unknown.push(detail),
    running: () => true,
  });
  const answer = async (batch: string) => (await book.openFold(batch))?.state;
  return { recorder: r, book, acked, unknown, answer, metrics: o.metrics };
}

describe('Recorder, durable ledger', () => {
  it('records a pack of an open batch with one ledger call, and folds each result in once', async () => {
    const ledger = new TouchedLedger();
    await ledger.already('b', null);
    const { recorder: r, book, acked, answer } = recorder(ledger);
    await book.fold('b');
    ledger.touches.length = 0;
    await r.record([
      { worker: 'w1', bytes: 100, results: [ok('b', 0), ok('b', 1)] },
      { worker: 'w2', bytes: 100, results: [ok('b', 2)] },
    ]);
    expect(ledger.touches).toEqual(['record', 'record']);
    expect(await answer('b')).toBe(111);
    expect(acked).toEqual(['b:0', 'b:1', 'b:2']);
  });

  it('labels its counters with at most MAX_WORKER_LABELS worker ids; later ones count as other', async () => {
    const ledger = new TouchedLedger();
    await ledger.already('b', null);
    const { recorder: r, book, metrics } = recorder(ledger);
    await book.fold('b');
    const packs = Array.from({ length: MAX_WORKER_LABELS + 5 }, (_, i) => ({ worker: `forged-${i}`, bytes: 10, results: [ok('b', i)] }));
    await r.record(packs);
    const text = await metrics.registry.metrics();
    const series = text.split('\n').filter((line) => line.startsWith('jobpipe_jobs_completed_total{'));
    expect(series).toHaveLength(MAX_WORKER_LABELS + 1);
    expect(metricValue(text, 'jobpipe_jobs_completed_total', { worker: 'other' })).toBe(5);
    expect(metricValue(text, 'jobpipe_jobs_completed_total', { worker: 'forged-0' })).toBe(1);
  });

  it('a batch this sink has not seen since it started: record, then read back once (no knows), each result folded once', async () => {
    const ledger = new TouchedLedger();
    await ledger.already('b', null, 0, 1);
    const { recorder: r, answer } = recorder(ledger);
    await r.record([
      { worker: 'w1', bytes: 100, results: [ok('b', 2)] },
      { worker: 'w2', bytes: 100, results: [ok('b', 3), ok('b', 1)] },
    ]);
    expect(ledger.touches).toEqual(['record', 'record', 'forEachResult']);
    expect(await answer('b')).toBe(1111);
  });

  it('the last pack of a batch: record, per-worker counts and complete; the batch is done', async () => {
    const ledger = new TouchedLedger();
    await ledger.already('b', 2, 0);
    const { recorder: r, book } = recorder(ledger);
    await book.fold('b');
    ledger.touches.length = 0;
    await r.record([{ worker: 'w1', bytes: 100, results: [ok('b', 1)] }]);
    expect(ledger.touches).toEqual(['record', 'perWorker', 'complete']);
    expect(book.isDone('b')).toBe(true);
  });

  it('drops the results of a batch the ledger does not know, unacked: orphans make it ask', async () => {
    const ledger = new TouchedLedger();
    const { recorder: r, acked, unknown, book } = recorder(ledger);
    await r.record([{ worker: 'rogue', bytes: 100, results: [ok('nope', 0)] }]);
    expect(ledger.touches).toEqual(['record', 'knows']);
    expect(unknown).toEqual(['1 result(s) from rogue for batch nope, which was never started']);
    expect(acked).toEqual([]);
    expect(book.openBatches).toBe(0);
  });

  it('a late duplicate for a done batch opens nothing', async () => {
    const ledger = new TouchedLedger();
    await ledger.already('b', 1);
    const { recorder: r, book, acked } = recorder(ledger);
    await r.record([{ worker: 'w1', bytes: 100, results: [ok('b', 0)] }]);
    expect(book.isDone('b')).toBe(true);
    ledger.touches.length = 0;
    await r.record([{ worker: 'w2', bytes: 100, results: [ok('b', 0)] }]);
    expect(ledger.touches).toEqual(['record']);
    expect(book.openBatches).toBe(0);
    expect(acked).toEqual(['b:0', 'b:0']);
  });

  it('only the group whose record call failed goes again; the others are folded once', async () => {
    const ledger = new TouchedLedger();
    await ledger.already('b', null);
    const { recorder: r, book, answer } = recorder(ledger);
    await book.fold('b');
    ledger.touches.length = 0;
    ledger.failRecords = 1;
    await r.record([
      { worker: 'w1', bytes: 100, results: [ok('b', 0)] },
      { worker: 'w2', bytes: 100, results: [ok('b', 1)] },
    ]);
    expect(ledger.touches).toEqual(['record', 'record', 'record']);
    expect(await answer('b')).toBe(11);
  });
});

describe('Recorder, memory ledger', () => {
  it('parks results that overtook their BatchStart and records them when it comes; past the limit they are dropped', async () => {
    const ledger = new MemoryResultLedger();
    const { recorder: r, book, acked, unknown, answer } = recorder(ledger, 2);
    await r.record([
      { worker: 'w1', bytes: 100, results: [ok('b', 0), ok('b', 1)] },
      { worker: 'w2', bytes: 100, results: [ok('b', 2)] },
    ]);
    expect(acked).toEqual([]);
    expect(unknown).toHaveLength(1);
    expect(await book.begin('b')).toBe(true);
    await r.release('b');
    expect(acked).toEqual(['b:0', 'b:1']);
    expect(await answer('b')).toBe(11);
  });

  it("parks up to the limit in bytes, each result reckoned as its share of its message's size", async () => {
    const ledger = new MemoryResultLedger();
    const { recorder: r, book, acked, unknown, answer } = recorder(ledger, 100, 1000);
    await r.record([
      // 600 bytes over 3 results: the group of batch b holds 400 of them, the group of c 200.
      { worker: 'w1', bytes: 600, results: [ok('b', 0), ok('c', 0), ok('b', 1)] },
      // 700 more would pass 1000: dropped unacked, however few its results.
      { worker: 'w2', bytes: 700, results: [ok('b', 2)] },
      { worker: 'w3', bytes: 400, results: [ok('b', 3), ok('b', 4)] },
    ]);
    expect(unknown).toEqual(['1 result(s) from w2 for batch b, which was never started']);
    expect(acked).toEqual([]);
    expect(await book.begin('b')).toBe(true);
    await r.release('b');
    expect(acked.sort()).toEqual(['b:0', 'b:1', 'b:3', 'b:4']);
    expect(await answer('b')).toBe(11011);
    expect(await book.begin('c')).toBe(true);
    await r.release('c');
    expect(acked).toContain('c:0');
  });
});

describe('a worker\'s handler span, exported by the sink (PROTOCOL.md 3.2, "The handler\'s span")', () => {
  const ids = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: 'b7ad6b7169203331' };
  const handlerSpan = { parentSpanId: '00f067aa0ba902b7', startedAt: 1_767_225_600_001.25 };
  const attributes = { 'jobpipe.seq': 3 };

  it("is the worker's span, named by the result's traceparent, ending durationMs after it started", () => {
    const result: JobResult = { ...ok('b', 3), durationMs: 12.5, traceparent: `00-${ids.traceId}-${ids.spanId}-01`, tracestate: 'k=v', handlerSpan };
    expect(handlerSpanRecord('sum', result, ids, attributes)).toEqual({
      role: 'worker',
      name: 'handle sum',
      kind: SpanKind.CONSUMER,
      traceId: ids.traceId,
      spanId: ids.spanId,
      parentSpanId: '00f067aa0ba902b7',
      parentRemote: true,
      traceState: 'k=v',
      startMs: 1_767_225_600_001.25,
      endMs: 1_767_225_600_013.75,
      attributes,
      statusCode: 0,
    });
  });

  it("of a failed job, has the status error with the error's name and message, at most 1,000 characters", () => {
    const { value: _value, ...rest } = ok('b', 3) as JobResult & { value: unknown };
    const failed: JobResult = { ...rest, ok: false, error: { name: 'TypeError', message: 'x'.repeat(2000) }, handlerSpan };
    const record = handlerSpanRecord('sum', failed, ids, attributes);
    expect(record?.statusCode).toBe(2);
    expect(record?.statusMessage).toBe(`TypeError: ${'x'.repeat(1000 - 'TypeError: '.length)}`);
    expect(record && 'traceState' in record).toBe(false);
  });

  it('is none for a result without one, one whose parent is all zeros, or one that would end past the last JavaScript date', () => {
    const traced = { ...ok('b', 3), traceparent: `00-${ids.traceId}-${ids.spanId}-01` };
    expect(handlerSpanRecord('sum', traced, ids, attributes)).toBeUndefined();
    expect(handlerSpanRecord('sum', { ...traced, handlerSpan: { ...handlerSpan, parentSpanId: '0'.repeat(16) } }, ids, attributes)).toBeUndefined();
    expect(handlerSpanRecord('sum', { ...traced, durationMs: 1e300, handlerSpan }, ids, attributes)).toBeUndefined();
    expect(handlerSpanRecord('sum', { ...traced, durationMs: 0, handlerSpan: { ...handlerSpan, startedAt: 8.64e15 } }, ids, attributes)?.endMs).toBe(8.64e15);
  });
});
