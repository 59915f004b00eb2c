/**
 * Many batches at once (README, Submitting batches): a ventilator runs up to
 * JOBPIPE_MAX_OPEN_BATCHES submitted batches side by side, the workers going to the highest
 * priority first and then to each batch in turn. A small batch submitted while a large one runs
 * is done long before it; a batch with a priority goes ahead of a running one without; and a
 * ventilator killed while it runs three batches leaves all three to the next, which resumes them
 * together.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durablePipeline, durableSuite, readExecutions, startDurable, type Durable } from './durable-helpers.js';
import { logsOnce, scrape, sleep, waitFor } from './helpers.js';

const suite = durableSuite('open-batches');
const { cleanup, scratch } = suite;

const sumTo = (n: number) => (n * (n - 1)) / 2;

/** The batch's recorded results so far. */
async function recorded(d: Durable, batch: string): Promise<number> {
  return (await d.ledger.batchInfo(batch))?.recorded ?? 0;
}

describe('many batches at once', () => {
  it('a small batch submitted while a large one runs finishes first, and both are whole', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }) });
    const large = 2000;
    await d.submit({ jobs: large, workMs: 5 }, 'large');
    await waitFor('the large batch running', async () => (await recorded(d, 'large')) >= 50, 30_000, 20);
    await d.submit({ jobs: 3 }, 'small');
    const small = await d.done('small');
    expect(small.answer).toMatchObject({ count: 3, sum: 3, failed: 0 });
    // Done while most of the large one is still to come.
    expect(await recorded(d, 'large')).toBeLessThan(large * 0.75);
    const summary = await d.done('large', 60_000);
    expect(summary.answer).toMatchObject({ count: large, sum: sumTo(large), failed: 0 });
    expect(summary.duplicates).toBe(0);
  }, 120_000);

  it('a batch with a priority gets the workers ahead of a running batch without one', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }) });
    const lowLog = join(scratch, 'low.log');
    const urgentLog = join(scratch, 'urgent.log');
    await d.client.submit(d.pipeline, { jobs: 2000, workMs: 5, log: lowLog }, { batchId: 'low' });
    await waitFor('the low batch running', async () => (await recorded(d, 'low')) >= 50, 30_000, 20);
    const urgent = 400;
    await d.client.submit(d.pipeline, { jobs: urgent, workMs: 5, log: urgentLog }, { batchId: 'urgent', priority: 1 });
    const summary = await d.done('urgent', 60_000);
    expect(summary.answer).toMatchObject({ count: urgent, failed: 0 });
    // While the urgent batch ran, the low one got only what the worker held already (its credit
    // and prefetch): taking turns would have given it about as many jobs as the urgent one.
    const urgentRuns = readExecutions(urgentLog).map((e) => e.at);
    const [from, to] = [Math.min(...urgentRuns), Math.max(...urgentRuns)];
    const lowMeanwhile = readExecutions(lowLog).filter((e) => e.at > from && e.at < to).length;
    expect(lowMeanwhile).toBeLessThan(urgent / 4);
    expect((await d.done('low', 60_000)).answer).toMatchObject({ count: 2000, failed: 0 });
    // Longer than the waits inside, so that a stall fails with where each batch stood.
  }, 180_000);

  it('queued batches start by priority, and a batch without one after every batch with one', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1, ventilator: false });
    await d.client.submit(d.pipeline, { jobs: 2 }, { batchId: 'none' });
    await d.client.submit(d.pipeline, { jobs: 2 }, { batchId: 'p9', priority: 9 });
    await d.client.submit(d.pipeline, { jobs: 2 }, { batchId: 'none-2' });
    await d.client.submit(d.pipeline, { jobs: 2 }, { batchId: 'p5', priority: 5 });
    // One batch at a time: each starts only once the one before it is done.
    await d.startVentilator({ JOBPIPE_MAX_OPEN_BATCHES: '1' });
    const order = ['none', 'p9', 'none-2', 'p5'];
    for (const batch of order) await d.done(batch);
    const startedAt = await Promise.all(order.map(async (batch) => [batch, (await d.ledger.batchInfo(batch))!.startedAt] as const));
    expect(startedAt.sort((a, b) => a[1] - b[1]).map(([batch]) => batch)).toEqual(['p5', 'p9', 'none', 'none-2']);
  });

  it('a batch asked for the lowest priority runs at it, ahead of a batch without one', async () => {
    // No worker yet: the ventilator holds both batches' jobs, each under its batch's priority.
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 0, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '1' }) });
    const [noneLog, lowestLog] = [join(scratch, 'none-after.log'), join(scratch, 'lowest-first.log')];
    await d.client.submit(d.pipeline, { jobs: 5, workMs: 20, log: noneLog }, { batchId: 'none-after' });
    await d.client.submit(d.pipeline, { jobs: 3, workMs: 20, log: lowestLog }, { batchId: 'lowest-first', priority: 2_097_151 });
    const waiting = async (priority: string) => (await scrape(d.stack.ventilator!.url('/metrics'), 'jobpipe_fresh_jobs_waiting', { priority })) ?? 0;
    await waitFor('both batches held', async () => (await waiting('none')) === 5 && (await waiting('2097151')) === 3, 30_000, 100);
    // One worker, one job at a time: every job of the lowest priority starts before any without one.
    await d.stack.addWorker();
    for (const batch of ['none-after', 'lowest-first']) await d.done(batch);
    const starts = (log: string) => readExecutions(log).map((execution) => execution.at);
    expect(Math.max(...starts(lowestLog))).toBeLessThan(Math.min(...starts(noneLog)));
  });

  it('a slow batch after fast jobs is shared: idle workers take back the credit they granted while the jobs were fast', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 2, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '1' }) });
    // Fast jobs open each worker's window wide (its prefetch is 50 ms of its measured rate).
    await d.submit({ jobs: 3000 }, 'fast');
    await d.done('fast', 60_000);
    // Idle for a whole heartbeat interval (1 s), seen at the next beat: each worker takes its
    // credit back within 2 s of its last job.
    await sleep(3500);
    const slow = await d.submit({ jobs: 8, workMs: 300 }, 'slow');
    const summary = await d.done(slow, 30_000);
    expect(summary).toMatchObject({ jobs: 8, failed: 0, duplicates: 0 });
    // With the fast jobs' credit the first pack took all eight to one worker.
    const counts = Object.values(summary.perWorker);
    expect(counts, JSON.stringify(summary.perWorker)).toHaveLength(2);
    expect(Math.min(...counts), JSON.stringify(summary.perWorker)).toBeGreaterThanOrEqual(3);
  });

  it('a ventilator killed while it runs three batches: the next one resumes all three, and every job is recorded once', async () => {
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: durablePipeline,
      workers: 2,
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }),
      ventilatorEnv: { JOBPIPE_INTAKE_LOCK_MS: '1000', JOBPIPE_LEASE_MS: '3000' },
    });
    const batches = ['one', 'two', 'three'];
    const jobs = 300;
    for (const batch of batches) await d.submit({ jobs, workMs: 10 }, batch);
    await waitFor('all three batches running', async () => (await Promise.all(batches.map((b) => recorded(d, b)))).every((n) => n >= 10), 30_000, 20);
    const first = d.stack.ventilator!;
    first.child.kill('SIGKILL');
    await first.exited;
    // What the workers held is recorded meanwhile; the rest of each batch needs a ventilator.
    await sleep(500);
    const unfinished: string[] = [];
    for (const batch of batches) if ((await recorded(d, batch)) < jobs) unfinished.push(batch);
    expect(unfinished.length).toBeGreaterThan(0);
    const second = await d.startVentilator();
    for (const batch of batches) {
      const summary = await d.done(batch, 60_000);
      expect(summary.answer, batch).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
      expect(await d.redis.hlen(d.ledger.keys.batch(batch).results)).toBe(jobs);
    }
    await logsOnce(second, 'batch resumed', unfinished.length);
    expect(new Set(second.logs('batch resumed').map((line) => line.batch))).toEqual(new Set(unfinished));
  });
});
