import { afterEach, describe, expect, it } from 'vitest';
import { Push, Subscriber } from 'zeromq';
import { definePipeline } from '@jobpipe/pipeline';
import { decode, encode, type Message } from '@jobpipe/protocol';
import { Sink } from './sink.js';

const pipeline = definePipeline({
  name: 'sum',
  split: () => [],
  work: (n: number) => n,
  init: () => 0,
  collect: (n: number, ctx: { state: number }) => void (ctx.state += n),
  summarize: (state: number) => state,
});
let closing: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closing.reverse()) await close();
  closing = [];
});

describe('Sink (the shell, its rooms wired)', () => {
  it('takes only a pipeline; records a batch sent to its socket and publishes its acks and summary', async () => {
    const id = Math.random().toString(36).slice(2);
    const sink = new Sink({ pipeline, resultsBind: `inproc://results-${id}`, eventsBind: `inproc://events-${id}` });
    await sink.start();
    closing.push(() => sink.stop());
    expect(sink.running).toBe(true);
    const events = new Subscriber();
    events.connect(`inproc://events-${id}`);
    events.subscribe();
    closing.push(() => events.close());
    const results = new Push();
    results.connect(`inproc://results-${id}`);
    closing.push(() => results.close());
    await new Promise((resolve) => setTimeout(resolve, 50));
    await results.send(encode({ type: 'BatchStart', pipeline: 'sum', batch: 'b', startedAt: Date.now() }));
    await results.send(
      encode({
        type: 'Results',
        pipeline: 'sum',
        worker: 'w1',
        results: [1, 2, 3].map((seq) => ({ batch: 'b', seq, attempt: 1, dispatchedAt: Date.now(), durationMs: 1, ok: true, value: seq })),
      }),
    );
    await results.send(
      encode({
        type: 'Results',
        pipeline: 'other',
        worker: 'w1',
        results: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: 100 }],
      }),
    );
    await results.send(
      encode({
        type: 'Results',
        pipeline: 'sum',
        worker: 'w2',
        results: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: Date.now(), durationMs: 1, ok: true, value: 10 }],
      }),
    );
    await results.send(encode({ type: 'BatchEnd', pipeline: 'sum', batch: 'b', jobs: 4 }));
    const seen: Message[] = [];
    for await (const [frame] of events) {
      const decoded = decode(frame!);
      if (decoded.ok) seen.push(decoded.message);
      if (decoded.ok && decoded.message.type === 'BatchCompleted') break;
    }
    const acked = seen.flatMap((m) => (m.type === 'Recorded' ? m.seqs : [])).sort();
    expect(acked).toEqual([0, 1, 2, 3]);
    const completed = seen.at(-1) as Extract<Message, { type: 'BatchCompleted' }>;
    expect(completed.summary).toMatchObject({ batch: 'b', jobs: 4, answer: 16, perWorker: { w1: 3, w2: 1 } });
    await sink.stop();
    expect(sink.running).toBe(false);
  });

  it('records several pipelines, each batch folded by its own pipeline; a pipeline it does not record is dropped', async () => {
    const id = Math.random().toString(36).slice(2);
    const product = definePipeline({
      name: 'product',
      split: () => [],
      work: (n: number) => n,
      init: () => 1,
      collect: (n: number, ctx: { state: number }) => void (ctx.state *= n),
      summarize: (state: number) => state,
    });
    const sink = new Sink({ pipelines: [pipeline, product], resultsBind: `inproc://results-${id}`, eventsBind: `inproc://events-${id}` });
    await sink.start();
    closing.push(() => sink.stop());
    const events = new Subscriber();
    events.connect(`inproc://events-${id}`);
    events.subscribe(Buffer.from([1, 0x11]));
    closing.push(() => events.close());
    const results = new Push();
    results.connect(`inproc://results-${id}`);
    closing.push(() => results.close());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const result = (batch: string, seq: number, value: number) => ({
      batch,
      seq,
      attempt: 1,
      dispatchedAt: Date.now(),
      durationMs: 1,
      ok: true as const,
      value,
    });
    for (const [name, batch] of [
      ['sum', 'b-x'],
      ['product', 'b-y'],
    ] as const) {
      await results.send(encode({ type: 'BatchStart', pipeline: name, batch, startedAt: Date.now() }));
    }
    await results.send(encode({ type: 'Results', pipeline: 'sum', worker: 'w1', results: [result('b-x', 0, 2), result('b-x', 1, 3)] }));
    await results.send(
      encode({ type: 'Results', pipeline: 'product', worker: 'w2', results: [result('b-y', 0, 2), result('b-y', 1, 3), result('b-y', 2, 4)] }),
    );
    await results.send(encode({ type: 'BatchEnd', pipeline: 'sum', batch: 'b-x', jobs: 2 }));
    await results.send(encode({ type: 'BatchEnd', pipeline: 'product', batch: 'b-y', jobs: 3 }));
    const summaries = new Map<string, unknown>();
    for await (const [frame] of events) {
      const decoded = decode(frame!);
      if (decoded.ok && decoded.message.type === 'BatchCompleted') summaries.set(decoded.message.summary.batch, decoded.message.summary);
      if (summaries.size === 2) break;
    }
    expect(summaries.get('b-x')).toMatchObject({ pipeline: 'sum', jobs: 2, answer: 5, perWorker: { w1: 2 } });
    expect(summaries.get('b-y')).toMatchObject({ pipeline: 'product', jobs: 3, answer: 24, perWorker: { w2: 3 } });
    expect(() => new Sink({ pipelines: [pipeline, pipeline] })).toThrow(/two pipelines are named sum/);
  });
});
