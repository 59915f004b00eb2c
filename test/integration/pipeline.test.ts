/**
 * End to end through real processes: every job in comes out exactly once, across several worker
 * processes, with the pipeline's answer right.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cleanup, echoPipeline, primesModule, primesPipeline, scrape, startBatch, waitFor } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

describe('pipeline', () => {
  it('runs 3000 echo jobs on 3 workers: each job once, every worker busy, the answer right', async () => {
    const jobs = 3000;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 3,
      // A little sleep per job, 4 at a time per worker: one worker alone would need ~2.5 s, so
      // each worker gets jobs even if it starts a second later than the others.
      input: { jobs, payloadBytes: 100, workMs: 3, spin: false },
      batchId: 'echo-3000',
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }),
    });
    const summary = await events.completed('echo-3000', 45_000);

    expect(summary).toMatchObject({ batch: 'echo-3000', pipeline: 'echo', jobs, failed: 0, duplicates: 0 });
    expect(summary.answer).toEqual({ count: jobs, sum: (jobs * (jobs - 1)) / 2, failed: 0 });
    expect(Object.keys(summary.perWorker).sort()).toEqual(['worker-1', 'worker-2', 'worker-3']);
    for (const [worker, count] of Object.entries(summary.perWorker)) expect(count, `jobs done by ${worker}`).toBeGreaterThan(0);
    expect(Object.values(summary.perWorker).reduce((a, b) => a + b, 0)).toBe(jobs);

    // The metrics tell the same story.
    expect(await scrape(stack.ventilator!.url('/metrics'), 'jobpipe_jobs_dispatched_total', { pipeline: 'echo' })).toBe(jobs);
    expect((await scrape(stack.ventilator!.url('/metrics'), 'jobpipe_jobs_redelivered_total')) ?? 0).toBe(0);
    const sinkMetrics = stack.sink.url('/metrics');
    expect(await scrape(sinkMetrics, 'jobpipe_jobs_completed_total', { pipeline: 'echo' })).toBe(jobs);
    for (const [worker, count] of Object.entries(summary.perWorker)) {
      expect(await scrape(sinkMetrics, 'jobpipe_jobs_completed_total', { pipeline: 'echo', worker })).toBe(count);
    }
    expect((await scrape(sinkMetrics, 'jobpipe_duplicate_results_total')) ?? 0).toBe(0);
    expect(await scrape(sinkMetrics, 'jobpipe_batches_completed_total', { pipeline: 'echo' })).toBe(1);
  });

  it('counts the primes below 300,000 and agrees with a sieve', async () => {
    const { countPrimesBelow } = (await import(primesModule)) as { countPrimesBelow: (limit: number) => number };
    const limit = 300_000;
    const chunk = 10_000;
    const { events } = await startBatch(cleanup, {
      pipeline: primesPipeline,
      workers: 2,
      input: { limit, chunk },
      batchId: 'primes-300k',
      // Two cores for everything: one thread per worker is plenty.
      workerEnv: () => ({ JOBPIPE_THREADS: '1' }),
    });
    const summary = await events.completed('primes-300k', 45_000);

    expect(summary).toMatchObject({ jobs: limit / chunk, failed: 0, duplicates: 0 });
    expect(summary.answer).toEqual({ primes: countPrimesBelow(limit), ranges: limit / chunk });
    expect(countPrimesBelow(limit)).toBe(25_997);
  });

  it('records failed jobs (failEvery) and still completes the batch', async () => {
    const jobs = 500;
    const failEvery = 7;
    const expectedFailed = Math.floor(jobs / failEvery);
    // Jobs i with (i + 1) % 7 === 0 throw: their values are missing from the sum.
    let sum = 0;
    for (let i = 0; i < jobs; i++) if ((i + 1) % failEvery !== 0) sum += i;

    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 2,
      input: { jobs, payloadBytes: 60, workMs: 0, failEvery },
      batchId: 'echo-fail',
    });
    const summary = await events.completed('echo-fail', 45_000);

    expect(summary).toMatchObject({ jobs, failed: expectedFailed, duplicates: 0 });
    expect(summary.answer).toEqual({ count: jobs - expectedFailed, sum, failed: expectedFailed });
    expect(Object.values(summary.perWorker).reduce((a, b) => a + b, 0)).toBe(jobs);
    // A handler's throw is a result, not a lost job: nothing was sent twice.
    expect((await scrape(stack.ventilator!.url('/metrics'), 'jobpipe_jobs_redelivered_total')) ?? 0).toBe(0);
    expect(await scrape(stack.sink.url('/metrics'), 'jobpipe_jobs_failed_total', { pipeline: 'echo' })).toBe(expectedFailed);
    // Each failure logged once, by the worker that ran it (logs travel on another pipe: wait).
    await waitFor('every failure logged', () => stack.workers.flatMap((worker) => worker.logs('job failed')).length >= expectedFailed, 10_000).catch(() => {});
    const failedLogs = stack.workers.flatMap((worker) => worker.logs('job failed'));
    expect(failedLogs).toHaveLength(expectedFailed);
    expect(failedLogs.every((line) => line.batch === 'echo-fail' && (line.error as { message: string }).message.includes('fails on purpose'))).toBe(true);
  });

  it('keeps packed messages under the size limit: big payloads still flow, each in a pack that fits', async () => {
    // 300-byte payloads under a 64 KiB limit: packs of 500 jobs would be ~190 KiB and be dropped.
    const jobs = 2000;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 1,
      input: { jobs, payloadBytes: 300 },
      batchId: 'big-payloads',
      env: { JOBPIPE_MAX_MESSAGE_BYTES: '65536', JOBPIPE_PREFETCH_MS: '1000' },
    });
    const summary = await events.completed('big-payloads', 45_000);
    expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0 });
    expect(summary.answer).toEqual({ count: jobs, sum: (jobs * (jobs - 1)) / 2, failed: 0 });
    for (const role of [stack.workers[0]!, stack.sink]) {
      expect((await scrape(role.url('/metrics'), 'jobpipe_malformed_messages_total', { reason: 'too_large' })) ?? 0).toBe(0);
    }
  });
});
