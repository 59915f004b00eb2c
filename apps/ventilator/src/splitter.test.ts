import { describe, expect, it } from 'vitest';
import { PipelineError, type Pipeline } from '@jobpipe/pipeline';
import { Backlog } from './backlog.js';
import { Splitter } from './splitter.js';

const pipeline = (split: (n: number) => Iterable<unknown> | AsyncIterable<unknown>) => ({ name: 'p', split, work: () => null }) as unknown as Pipeline;
const range = function* (n: number) {
  for (let i = 0; i < n; i++) yield { i };
};

function setup(
  options: {
    maxInFlight?: number;
    keepNew?: (batch: string, seqs: number[]) => Promise<number[]>;
    split?: (n: number) => Iterable<unknown> | AsyncIterable<unknown>;
  } = {},
) {
  const backlog = new Backlog({ maxInFlight: options.maxInFlight ?? 100 }, []);
  let running = true;
  const splitter = new Splitter({
    pipeline: pipeline(options.split ?? range),
    ledger: { keepNew: options.keepNew ?? (async (_batch, seqs) => seqs) },
    backlog,
    maxJobsPerMessage: 2,
    maxMessageBytes: 4096,
    running: () => running,
  });
  return { backlog, splitter, stop: () => ((running = false), backlog.room.notify()) };
}

/** Takes every fresh job waiting, as the dispatcher would. */
function takeAll(backlog: Backlog): void {
  for (let source = backlog.fresh.next(); source; source = backlog.fresh.next()) source.take(source.jobs.length);
}

describe('Splitter', () => {
  it('streams a split into fresh jobs, payloads as JSON text, seqs from 0', async () => {
    const { backlog, splitter } = setup();
    expect(await splitter.split(3, 'b1', false)).toBe(3);
    expect(backlog.fresh.jobsOf('b1')).toEqual([0, 1, 2].map((seq) => ({ batch: 'b1', seq, attempt: 1, payloadJson: `{"i":${seq}}` })));
    expect(splitter.splitSoFar).toBe(3);
    splitter.forget('b1');
    expect(splitter.splitSoFar).toBe(0);
  });

  it('pauses while the backlog is full and goes on when there is room', async () => {
    const { backlog, splitter } = setup({ maxInFlight: 2 });
    let total: number | undefined;
    const split = splitter.split(5, 'b', false).then((n) => (total = n));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backlog.fresh.length).toBe(2);
    expect(total).toBeUndefined();
    takeAll(backlog);
    backlog.room.notify();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backlog.fresh.jobsOf('b').map((job) => job.seq)).toEqual([2, 3]);
    takeAll(backlog);
    backlog.room.notify();
    await split;
    expect(total).toBe(5);
  });

  it('splits two batches at once, each counting its own jobs, async splits too', async () => {
    const { backlog, splitter } = setup({
      split: async function* (n: number) {
        for (let i = 0; i < n; i++) yield i;
      },
    });
    const [a, b] = await Promise.all([splitter.split(3, 'a', false), splitter.split(4, 'b', false)]);
    expect([a, b]).toEqual([3, 4]);
    expect(backlog.fresh.jobsOf('b').map((job) => job.seq)).toEqual([0, 1, 2, 3]);
    expect(splitter.splitSoFar).toBe(7);
  });

  it('keeps, of a resumed batch, only the jobs the ledger says were never dispatched', async () => {
    const asked: number[][] = [];
    const { backlog, splitter } = setup({ keepNew: async (_batch, seqs) => (asked.push(seqs), seqs.filter((seq) => seq % 2 === 0)) });
    expect(await splitter.split(5, 'b', true)).toBe(5);
    expect(asked).toEqual([[0, 1], [2, 3], [4]]);
    expect(backlog.fresh.jobsOf('b').map((job) => job.seq)).toEqual([0, 2, 4]);
  });

  it('fails the batch on a payload that can never fit in a message, or JSON cannot carry', async () => {
    const big = setup({ split: () => ['x'.repeat(5000)] });
    await expect(big.splitter.split(0, 'b', false)).rejects.toThrow(PipelineError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad = setup({ split: () => [cyclic] });
    await expect(bad.splitter.split(0, 'b', false)).rejects.toThrow(/JSON cannot carry at job b:0/);
  });

  it('fails a split under way when the ventilator stops', async () => {
    const { splitter, stop } = setup({ maxInFlight: 1 });
    const split = splitter.split(3, 'b', false);
    await new Promise((resolve) => setTimeout(resolve, 10));
    stop();
    await expect(split).rejects.toThrow('ventilator stopped during batch b');
  });
});
