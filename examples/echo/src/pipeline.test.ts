import { describe, expect, it } from 'vitest';
import { parseInput } from '@jobpipe/pipeline';
import pipeline, { clockMs } from './pipeline.js';

type Input = Parameters<typeof pipeline.split>[0];
type Payload = Parameters<typeof pipeline.work>[0];

/** Runs a paced split through work, collect and summarize in this process. */
async function pacedRun(input: Record<string, unknown>) {
  const checked = (await parseInput(pipeline, input)) as Input;
  const payloads: Payload[] = [];
  for await (const payload of pipeline.split(checked) as AsyncIterable<Payload>) payloads.push(payload);
  const state = pipeline.init!();
  for (const [seq, payload] of payloads.entries()) {
    const result = await pipeline.work(payload, {} as never);
    await pipeline.collect!(result, { batch: 'b', seq, worker: 'w', state });
  }
  return {
    payloads,
    answer: pipeline.summarize!(state, { jobs: payloads.length, failed: 0 }) as {
      count: number;
      latencyMs?: {
        samples: number;
        p50: number;
        p99: number;
        min: number;
        max: number;
        toWorker: { min: number; max: number };
        toRecorded: { min: number; max: number };
        p50ByTenth: number[];
      };
    },
  };
}

describe('echo example', () => {
  it('stamps creation times only after the warm-up, and measures only those jobs', async () => {
    // More samples than the state's first arrays hold: they grow.
    const { payloads, answer } = await pacedRun({ jobs: 5000, ratePerSecond: 1_000_000, warmupJobs: 15 });
    expect(payloads.filter((payload) => payload.t === undefined).map((payload) => payload.i)).toEqual([...Array(15).keys()]);
    expect(answer.count).toBe(5000);
    expect(answer.latencyMs!.samples).toBe(4985);
    expect(answer.latencyMs!.p50).toBeGreaterThan(0);
    expect(answer.latencyMs!.p50ByTenth).toHaveLength(10);
    for (const p50 of answer.latencyMs!.p50ByTenth) expect(p50).toBeGreaterThan(0);
    expect(answer.latencyMs!.p99).toBeGreaterThanOrEqual(answer.latencyMs!.p50);
    // One clock for every stamp: nothing negative, and each stage within the whole.
    const { min, max, toWorker, toRecorded } = answer.latencyMs!;
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeGreaterThanOrEqual(answer.latencyMs!.p99);
    for (const stage of [toWorker, toRecorded]) {
      expect(stage.min).toBeGreaterThanOrEqual(0);
      expect(stage.max).toBeLessThanOrEqual(max);
    }
  });

  it('stamps on the monotonic clock that process.hrtime reads', () => {
    const before = Number(process.hrtime.bigint()) / 1e6;
    const stamp = clockMs();
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect(stamp - before).toBeLessThan(1000);
  });

  it('gives the p50 of each tenth of the jobs, in job order', async () => {
    const state = pipeline.init!();
    // The first half took 10 ms, the second 1 ms; results arrive out of order.
    const jobs = [...Array(100).keys()].reverse();
    for (const i of jobs) {
      const t = clockMs() - (i < 50 ? 10 : 1);
      await pipeline.collect!({ i, t, w: t }, { batch: 'b', seq: i, worker: 'w', state });
    }
    const { latencyMs } = pipeline.summarize!(state, { jobs: 100, failed: 0 }) as { latencyMs: { p50ByTenth: number[] } };
    expect(latencyMs.p50ByTenth.map((p50) => Math.round(p50))).toEqual([10, 10, 10, 10, 10, 1, 1, 1, 1, 1]);
  });

  it('leaves out a tenth of the jobs when no warm-up is given', async () => {
    const { answer } = await pacedRun({ jobs: 50, ratePerSecond: 100_000 });
    expect(answer.latencyMs!.samples).toBe(45);
  });

  it('unpaced, measures the throughput after the warm-up from the marked job on', async () => {
    const run = async (input: Record<string, unknown>) => {
      const checked = (await parseInput(pipeline, input)) as Input;
      const state = pipeline.init!();
      let seq = 0;
      for (const payload of pipeline.split(checked) as Iterable<Payload>) {
        await pipeline.collect!(await pipeline.work(payload, {} as never), { batch: 'b', seq: seq++, worker: 'w', state });
      }
      return pipeline.summarize!(state, { jobs: seq, failed: 0 }) as {
        count: number;
        sum: number;
        throughput?: { jobs: number; seconds: number; warmup: number; warmupSeconds: number };
      };
    };
    const answer = await run({ jobs: 100, warmupJobs: 30 });
    expect(answer).toMatchObject({ count: 100, sum: 4950, throughput: { jobs: 69, warmup: 30 } });
    expect(answer.throughput!.seconds).toBeGreaterThan(0);
    // The warm-up's time, from job 0's creation to the marked job's result, on the same clock.
    expect(answer.throughput!.warmupSeconds).toBeGreaterThan(0);
    // Without a warm-up in the input, the answer is the plain fold.
    expect(await run({ jobs: 100 })).toEqual({ count: 100, sum: 4950, failed: 0 });
  });

  it('rejects a warm-up that is not a count', async () => {
    await expect(parseInput(pipeline, { jobs: 10, warmupJobs: -1 })).rejects.toThrow(/warmupJobs/);
    await expect(parseInput(pipeline, { jobs: 10, warmupJobs: 1.5 })).rejects.toThrow(/warmupJobs/);
  });
});
