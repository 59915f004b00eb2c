/**
 * Durable mode, failing jobs (README, Guarantees 2): handler retries with backoff, and jobs
 * that run out of attempts becoming dead letters with their last error, which `jobpipe dead list`
 * shows, `jobpipe dead retry` sends round again and `jobpipe dead purge` forgets.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, waitFor } from './helpers.js';
import { durableSuite, readExecutions, flakyPipeline, metric, persistentPipeline, startDurable } from './durable-helpers.js';

const suite = durableSuite('durable-failures');
const { cleanup, scratch } = suite;
const executionsOf = (log: string, seq: number) => readExecutions(log).filter((e) => e.seq === seq);

/** Runs the CLI against the test's Redis and prefix; resolves with its exit and output. */
async function cli(args: string[], url: string, prefix: string) {
  return runCli(args, { JOBPIPE_REDIS_URL: url, JOBPIPE_REDIS_PREFIX: prefix }, cleanup).exited;
}

type Answer = { count: number; sum: number; failed: number; attempts: Record<string, number> };

describe('durable failures', () => {
  it('handler retries with backoff: a job that fails twice and then succeeds is recorded, with no dead letter', async () => {
    const log = join(scratch, 'flaky.log');
    // flaky.mjs: retries 2, backoff 200 ms doubling.
    const d = await startDurable(cleanup, { server: suite.server, pipeline: flakyPipeline, workers: 1, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }) });
    const batch = 'flaky';
    const jobs = 8;
    const flaky = [2, 5];
    await d.submit({ jobs, log, failUntil: Object.fromEntries(flaky.map((seq) => [seq, 2])) }, batch);
    const summary = await d.done(batch);

    const answer = summary.answer as Answer;
    expect(summary.failed).toBe(0);
    expect(answer).toMatchObject({ count: jobs, sum: 28, failed: 0 });
    for (let seq = 0; seq < jobs; seq++) expect(answer.attempts[seq], `attempt recorded for job ${seq}`).toBe(flaky.includes(seq) ? 3 : 1);
    const keys = d.ledger.keys.batch(batch);
    expect(await d.ledger.listDead(batch)).toEqual([]);
    expect(await d.redis.hlen(keys.dead)).toBe(0);
    // A success clears the job's last error.
    expect(await d.redis.hlen(keys.errors)).toBe(0);
    for (const seq of flaky) {
      const runs = executionsOf(log, seq);
      expect(runs.map((e) => e.attempt)).toEqual([1, 2, 3]);
      // Each retry waited at least its backoff (200 ms, then 400 ms) after the failure before it.
      expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(200);
      expect(runs[2]!.at - runs[1]!.at).toBeGreaterThanOrEqual(400);
    }
    expect(await metric(d.stack.sink, 'jobpipe_jobs_failed_total')).toBe(2 * flaky.length);
    expect(await metric(d.stack.sink, 'jobpipe_jobs_dead_lettered_total')).toBe(0);
    expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_dead_lettered_total')).toBe(0);
    expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_redelivered_total')).toBeGreaterThanOrEqual(2 * flaky.length);
  });

  it('max attempts: a job that keeps failing becomes a dead letter with its last error; `dead retry` brings it back to done', async () => {
    const log = join(scratch, 'dead.log');
    const marker = join(scratch, 'broken');
    writeFileSync(marker, 'job 4 fails while this file exists\n');
    // persistent.mjs allows 10 retries: the ventilator's 3 attempts are the limit here.
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: persistentPipeline,
      workers: 1,
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }),
      ventilatorEnv: { JOBPIPE_MAX_ATTEMPTS: '3' },
    });
    const url = suite.server.url;
    const batch = 'dead';
    const jobs = 10;
    await d.submit({ jobs, log, failWhile: { marker, seqs: [4] } }, batch);
    const first = await d.done(batch);
    expect(first.failed).toBe(1);
    expect(first.answer).toMatchObject({ count: jobs - 1, sum: 45 - 4, failed: 1 });
    expect(executionsOf(log, 4).map((e) => e.attempt)).toEqual([1, 2, 3]);

    const message = 'job 4 fails while broken exists';
    expect(await d.ledger.listDead(batch)).toEqual([
      { batch, seq: 4, attempts: 3, payload: expect.objectContaining({ i: 4 }), error: { name: 'Error', message } },
    ]);
    expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_dead_lettered_total')).toBe(1);
    const status = await d.client.status('persistent', batch);
    expect(status).toMatchObject({ state: 'done', done: jobs, total: jobs, failed: 1 });

    const [list, listJson, unknown] = await Promise.all([
      cli(['dead', 'list'], url, d.prefix),
      cli(['dead', 'list', batch, '--json'], url, d.prefix),
      cli(['dead', 'list', 'no-such-batch'], url, d.prefix),
    ]);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, 'jobpipe: batch no-such-batch is unknown']);
    // A job of a batch by its id, <batch>:<seq>, as the console's /v1/jobs takes it.
    const [failedJob, doneJob] = await Promise.all([cli(['job', `${batch}:4`], url, d.prefix), cli(['job', `${batch}:3`], url, d.prefix)]);
    expect([failedJob.code, failedJob.stdout.trim()]).toEqual([0, `${batch}:4  persistent  failed  Error: ${message}`]);
    expect(doneJob.stdout).toMatch(new RegExp(`^${batch}:3  persistent  done  `));
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim().split('\n')).toEqual([`${batch}:4  attempts 3  Error: ${message}`]);
    expect(JSON.parse(listJson.stdout)).toMatchObject([{ batch, seq: 4, attempts: 3, error: { message } }]);

    // Fix the cause, then send the dead letter round again.
    rmSync(marker);
    const retry = await cli(['dead', 'retry', batch], url, d.prefix);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout.trim()).toBe(`sent round again: 1 dead letter(s) of ${batch}`);
    const second = await waitFor(
      'the batch done again with nothing failed',
      async () => {
        const report = await d.client.status('persistent', batch);
        return report?.state === 'done' && report.summary?.failed === 0 ? report : undefined;
      },
      30_000,
    );
    expect(second).toMatchObject({ done: jobs, total: jobs, failed: 0 });
    expect(second.summary!.answer).toMatchObject({ count: jobs, sum: 45, failed: 0, attempts: { 4: 1 } });
    expect(executionsOf(log, 4).map((e) => e.attempt)).toEqual([1, 2, 3, 1]);
    expect(await d.ledger.listDead(batch)).toEqual([]);
    expect(await d.redis.hlen(d.ledger.keys.batch(batch).results)).toBe(jobs);

    const [after, shown] = await Promise.all([cli(['dead', 'list'], url, d.prefix), cli(['status', batch], url, d.prefix)]);
    expect(after.stdout.trim()).toBe('no dead letters');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^${batch}  persistent  done  ${jobs}/${jobs}, `));
    expect(shown.stdout).not.toMatch(/\d+ failed/);
  });

  it('`dead purge` forgets a dead letter; the batch stays done with it counted as failed', async () => {
    const marker = join(scratch, 'always-broken');
    writeFileSync(marker, '');
    const d = await startDurable(cleanup, { server: suite.server, pipeline: persistentPipeline, workers: 1, ventilatorEnv: { JOBPIPE_MAX_ATTEMPTS: '2' } });
    const batch = 'purge';
    await d.submit({ jobs: 3, failWhile: { marker, seqs: [0] } }, batch);
    expect((await d.done(batch)).failed).toBe(1);
    expect(await d.ledger.listDead(batch)).toHaveLength(1);

    const purge = await cli(['dead', 'purge', batch], suite.server.url, d.prefix);
    expect(purge.code, purge.stderr).toBe(0);
    expect(purge.stdout.trim()).toBe(`purged: 1 dead letter(s) of ${batch}`);
    expect(await d.ledger.listDead(batch)).toEqual([]);
    expect(await d.redis.hlen(d.ledger.keys.batch(batch).errors)).toBe(0);
    expect(await d.client.status('persistent', batch)).toMatchObject({ state: 'done', failed: 1 });
    // Nothing left to retry.
    const retry = await cli(['dead', 'retry', batch], suite.server.url, d.prefix);
    expect(retry.stdout.trim()).toBe(`sent round again: 0 dead letter(s) of ${batch}`);
    rmSync(marker);
  });
});
