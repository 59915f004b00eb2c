import { describe, expect, it } from 'vitest';
import { MemoryResultLedger } from '@jobpipe/ledger';
import { definePipeline } from '@jobpipe/pipeline';
import { decode, type JobResult, type Message } from '@jobpipe/protocol';
import { BatchBook } from './batch-book.js';
import { compileSinkOptions, type SinkOptions } from './sink-options.js';

const pipeline = definePipeline({
  name: 'sum',
  split: () => [],
  work: (n: number) => n,
  init: () => 0,
  collect: (n: number, ctx: { state: number }) => void (ctx.state += n),
  summarize: (state: number) => state,
});
const ok = (batch: string, seq: number, value: number): JobResult => ({ batch, seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value });

/** A book on a memory ledger; `stored` stands in for what a durable ledger would read back. */
function book(options: Partial<SinkOptions> = {}, stored: Record<string, [number, number][]> = {}) {
  const ledger = new MemoryResultLedger();
  const reads: string[] = [];
  ledger.forEachResult = async (batch: string, each: (seq: number, value: unknown) => void | Promise<void>) => {
    reads.push(batch);
    for (const [seq, value] of stored[batch] ?? []) await each(seq, value);
    return stored[batch]?.length ?? 0;
  };
  const events: (Message | string)[] = [];
  const b = new BatchBook(compileSinkOptions({ pipeline, ledger, ...options }), {
    publish: (frame) => {
      const decoded = decode(frame);
      if (decoded.ok) events.push(decoded.message);
    },
    flushAcks: () => events.push('acks flushed'),
  });
  return { book: b, ledger, events, reads };
}

describe('BatchBook', () => {
  it('opens a batch at BatchStart and completes it once every job is recorded: progress, acks, then the summary', async () => {
    const { book: b, ledger, events } = book();
    expect(await b.begin('b1')).toBe(true);
    const fold = (await b.openFold('b1'))!;
    const recording = await ledger.record('b1', 'w1', [ok('b1', 0, 3), ok('b1', 1, 4)]);
    for (const seq of [0, 1]) b.collect(fold, seq, seq + 3, 'w1');
    await b.afterRecording(fold, recording.counts, Date.now());
    expect(events.map((e) => (typeof e === 'string' ? e : e.type))).toEqual(['BatchProgress']);
    await b.end('b1', 2);
    expect(events.map((e) => (typeof e === 'string' ? e : e.type))).toEqual(['BatchProgress', 'BatchProgress', 'acks flushed', 'BatchCompleted']);
    const completed = events.at(-1) as Extract<Message, { type: 'BatchCompleted' }>;
    expect(completed.summary).toMatchObject({ batch: 'b1', jobs: 2, answer: 7, perWorker: { w1: 2 } });
    expect(b.isDone('b1')).toBe(true);
    expect(b.openFold('b1')).toBeUndefined();
    expect(await b.begin('b1')).toBe(false);
  });

  it('refuses a BatchStart past maxOpenBatches, and a BatchEnd of a batch never started, opening nothing', async () => {
    const { book: b, ledger } = book({ maxOpenBatches: 2 });
    expect(await b.begin('b1')).toBe(true);
    expect(await b.begin('b2')).toBe(true);
    expect(await b.begin('b3')).toBe(false);
    expect(await ledger.knows('b3')).toBe(false);
    expect(b.openBatches).toBe(2);
    // An open batch may start again (a resumed ventilator sends BatchStart again).
    expect(await b.begin('b1')).toBe(true);
    await b.end('never', 3);
    expect(b.openBatches).toBe(2);
    expect(await ledger.knows('never')).toBe(false);
  });

  it('durable: refuses a BatchStart of a batch the ledger does not know, and counts it', async () => {
    const ledger = new MemoryResultLedger();
    Object.defineProperty(ledger, 'durable', { value: true });
    ledger.forEachResult = async () => 0;
    const unknown: string[] = [];
    const b = new BatchBook(compileSinkOptions({ pipeline, ledger }), {
      publish: () => {},
      flushAcks: () => {},
      unknownBatch: (detail) => void unknown.push(detail),
    });
    expect(await b.begin('spoof')).toBe(false);
    expect(b.openBatches).toBe(0);
    expect(unknown).toEqual(['BatchStart of batch spoof, which the ledger does not know']);
    await ledger.begin('real');
    expect(await b.begin('real')).toBe(true);
  });

  it('publishes progress at most once per progressEveryMs', async () => {
    const { book: b, events } = book({ progressEveryMs: 1000 });
    const fold = await b.fold('b1');
    const counts = { done: 1, failed: 0, total: 10, startedAt: 0 };
    await b.afterRecording(fold, counts, 5000);
    await b.afterRecording(fold, counts, 5500);
    await b.afterRecording(fold, counts, 6000);
    expect(events).toHaveLength(2);
  });

  it('folds an opened batch again from what the ledger holds, reading it once however often it is asked', async () => {
    const { book: b, reads } = book(
      {},
      {
        b1: [
          [0, 10],
          [1, 20],
        ],
      },
    );
    const [first, second] = await Promise.all([b.fold('b1'), b.fold('b1')]);
    expect(first).toBe(second);
    expect(first.state).toBe(30);
    expect(reads).toEqual(['b1']);
  });

  it('durable: folds a batch again from the ledger when the ledger has fewer results than the fold (Redis lost some), before completing it', async () => {
    const stored: Record<string, [number, number][]> = {
      b1: [
        [0, 1],
        [1, 2],
      ],
    };
    const { book: b, ledger, events, reads } = book({}, stored);
    // The memory ledger standing in for Redis: durable, and it takes the summary.
    Object.defineProperty(ledger, 'durable', { value: true });
    ledger.complete = async () => true;
    await ledger.begin('b1'); // the ventilator opened it in the ledger
    await b.begin('b1');
    const fold = (await b.openFold('b1'))!;
    // Two more results folded; then Redis went back to the moment it held only seqs 0 and 1.
    b.collect(fold, 2, 4, 'w');
    b.collect(fold, 3, 8, 'w');
    expect(fold.state).toBe(15);
    // Seq 2 runs again and is recorded anew: the ledger now has 0, 1 and 2; the fold counts 5 results.
    stored.b1!.push([2, 4]);
    b.collect(fold, 2, 4, 'w');
    await b.afterRecording(fold, { done: 3, failed: 0, total: 4, startedAt: 0 }, Date.now());
    expect(reads).toEqual(['b1', 'b1']);
    expect([fold.state, fold.folded, fold.stale]).toEqual([7, 3, false]);
    // Seq 3 comes again, and the batch completes with each result folded once.
    stored.b1!.push([3, 8]);
    b.collect(fold, 3, 8, 'w');
    await b.afterRecording(fold, { done: 4, failed: 0, total: 4, startedAt: 0 }, Date.now());
    expect(reads).toHaveLength(2);
    const completed = events.at(-1) as Extract<Message, { type: 'BatchCompleted' }>;
    expect(completed.summary.answer).toBe(15);
  });

  it('refuses to open more than maxOpenBatches', async () => {
    const { book: b } = book({ maxOpenBatches: 1 });
    await b.fold('a');
    expect(() => b.fold('b')).toThrow(/too many open batches/);
    expect(b.openBatches).toBe(1);
  });

  it('remembers doneBatchesKept done batches, the oldest forgotten first; reopen makes one open again', async () => {
    const { book: b, ledger } = book({ doneBatchesKept: 2 });
    for (const batch of ['a', 'b', 'c']) {
      await b.begin(batch);
      await b.end(batch, 0);
    }
    expect(['a', 'b', 'c'].map((batch) => b.isDone(batch))).toEqual([false, true, true]);
    expect(await ledger.knows('c')).toBe(true);
    await b.reopen('c');
    expect(b.isDone('c')).toBe(false);
    expect(b.openFold('c')).toBeDefined();
  });

  it('runs serial steps one at a time, in order, past one that fails', async () => {
    const { book: b } = book();
    const log: string[] = [];
    const step =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`${name} in`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        log.push(`${name} out`);
        if (fail) throw new Error(name);
      };
    await Promise.allSettled([b.serially(step('a', 20, true)), b.serially(step('b', 1)), b.serially(step('c', 1))]);
    expect(log).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  });
});
