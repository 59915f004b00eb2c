/**
 * Cancel (README, Cancelling): a batch or one job. Jobs not sent are never sent, running handlers
 * see their signal abort, nothing more is recorded (what was, stays, once), and the batch
 * completes with a summary that counts what was cancelled.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durablePipeline, durableSuite, readExecutions, startDurable, type Durable } from './durable-helpers.js';
import { runCli, sleep, waitFor } from './helpers.js';

const suite = durableSuite('cancel');
const { cleanup, scratch } = suite;

/** The lines an aborted handler wrote (fixtures/behaviours.mjs, abortLog). */
function aborts(log: string): { seq: number; attempt: number; at: number; reason: string }[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

async function recorded(d: Durable, batch: string): Promise<number> {
  return (await d.ledger.batchInfo(batch))?.recorded ?? 0;
}

describe('cancel', () => {
  it('a running batch: handlers see their signal abort, nothing starts after, the summary counts what was cancelled', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }) });
    const log = join(scratch, 'batch.log');
    const abortLog = join(scratch, 'batch-aborts.log');
    const jobs = 400;
    await d.client.submit(d.pipeline, { jobs, workMs: 200, log, abortLog }, { batchId: 'big' });
    await waitFor('some jobs recorded', async () => (await recorded(d, 'big')) >= 8, 30_000, 20);
    expect(await d.client.cancel(d.pipeline.name, 'big')).toBe(true);
    const summary = await d.done('big', 30_000);
    const results = await d.redis.hlen(d.ledger.keys.batch('big').results);
    // Every job is recorded once or cancelled; the answer folds exactly what was recorded.
    expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0, cancelled: jobs - results });
    expect(summary.answer).toMatchObject({ count: results });
    expect(results).toBeLessThan(jobs / 2);
    // The handlers running when the worker heard of it saw their signal abort (the summary may
    // come first: the sink completes the batch without waiting for them); none began after.
    await waitFor('a handler aborted', () => aborts(abortLog).some((line) => line.reason === 'Cancelled'), 20_000, 50);
    const heardAt = Math.min(...aborts(abortLog).map((line) => line.at));
    const late = readExecutions(log).filter((run) => run.at > heardAt + 1000);
    expect(late).toEqual([]);
    expect(await d.client.cancel(d.pipeline.name, 'big')).toBe(false);
    expect((await d.client.status(d.pipeline.name, 'big'))?.cancelled).toBe(jobs - results);
    // jobpipe status says so: cancelled jobs count as done, and the line counts them apart.
    const shown = await runCli(['status', 'big'], { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix }, cleanup).exited;
    expect(shown.stdout, shown.stderr).toContain(`  done  ${jobs}/${jobs}, ${jobs - results} cancelled, `);
  });

  it('single jobs: a running one is aborted, one not yet sent never runs, and both say cancelled', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1 });
    const log = join(scratch, 'jobs.log');
    const abortLog = join(scratch, 'jobs-aborts.log');
    const running = await d.client.add(d.pipeline, { i: 1, hang: true, log, abortLog });
    await waitFor('the job running', async () => (await d.client.getJob(running))?.state === 'running', 30_000, 20);
    await waitFor('its handler started', async () => readExecutions(log).length === 1, 30_000, 20);
    expect(await d.client.cancelJob(running)).toBe(true);
    expect(await d.client.waitForJob(running, { timeoutMs: 20_000 })).toMatchObject({ state: 'cancelled', error: { name: 'Cancelled' } });
    await waitFor('its handler aborted', async () => aborts(abortLog).length === 1, 20_000, 20);
    expect(aborts(abortLog)[0]).toMatchObject({ seq: 0, reason: 'Cancelled' });

    await d.client.pause(d.pipeline.name);
    await sleep(500);
    const waiting = await d.client.add(d.pipeline, { i: 2, log });
    expect(await d.client.cancelJob(waiting)).toBe(true);
    expect(await d.client.cancelJob(waiting)).toBe(false);
    await d.client.resume(d.pipeline.name);
    // Another job after it runs, so the one cancelled had its chance to be sent.
    const after = await d.client.add(d.pipeline, { i: 3, log });
    expect(await d.client.waitForJob(after, { timeoutMs: 20_000 })).toMatchObject({ state: 'done' });
    expect(await d.client.getJob(waiting)).toMatchObject({ state: 'cancelled' });
    expect(readExecutions(log).map((run) => run.seq)).not.toContain(Number(waiting.split(':').at(-1)));
    await expect(d.client.cancelJob('durable~1-999999:0')).rejects.toThrow(/unknown/);
  });

  it('a batch still queued never runs; jobpipe cancel says so and says when there is nothing to cancel', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1, ventilator: false });
    const log = join(scratch, 'queued.log');
    await d.client.submit(d.pipeline, { jobs: 5, log }, { batchId: 'queued' });
    const env = { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix };
    const first = await runCli(['cancel', 'queued'], env, cleanup).exited;
    expect([first.code, first.stdout.trim()], first.stderr).toEqual([0, 'cancelled batch queued']);
    await d.startVentilator();
    const summary = await d.done('queued', 30_000);
    expect(summary).toMatchObject({ jobs: 0, failed: 0 });
    // It ran no job, and jobpipe status still says it was cancelled.
    const shown = await runCli(['status', 'queued'], env, cleanup).exited;
    expect(shown.stdout, shown.stderr).toContain('  done  0 done, batch cancelled');
    const again = await runCli(['cancel', 'queued'], env, cleanup).exited;
    expect([again.code, again.stdout.trim()]).toEqual([1, 'batch queued had ended already: nothing cancelled']);
    const unknown = await runCli(['cancel', 'nope'], env, cleanup).exited;
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, 'jobpipe: batch nope is unknown']);
    await sleep(500);
    expect(readExecutions(log)).toEqual([]);
  });
});
