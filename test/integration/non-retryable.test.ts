/**
 * A handler that throws NonRetryableError (README, Guarantees 2; PROTOCOL.md 3.2, "Failures not
 * to retry"), with real processes and a redis-server of the test's own: on a pipeline that allows
 * 5 retries, the job runs exactly once and ends as a dead letter with its error, while a plain
 * failure beside it is retried as usual. Once with handlers on the worker's event loop, once on a
 * worker thread (whose errors cross to the main thread by structured clone).
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';
import { durableSuite, fixtures, metric, readExecutions, startDurable } from './durable-helpers.js';

const suite = durableSuite('non-retryable');
const { cleanup, scratch } = suite;
const pipeline = resolve(fixtures, 'non-retryable.mjs');

describe('non-retryable failures', () => {
  it.each([0, 1])(
    'threads %i: a job whose handler throws NonRetryableError runs once and is a dead letter with its error, retries 5 notwithstanding',
    async (threads) => {
      const log = join(scratch, `non-retryable-${threads}.log`);
      const d = await startDurable(cleanup, {
        server: suite.server,
        pipeline,
        workers: 1,
        workerEnv: () => ({ JOBPIPE_THREADS: String(threads), JOBPIPE_CONCURRENCY: '4' }),
        ventilatorEnv: { JOBPIPE_MAX_ATTEMPTS: '10' },
      });
      const batch = `fatal-${threads}`;
      const jobs = 6;
      await d.submit({ jobs, log, fatal: [3], failOnce: [1] }, batch);
      const summary = await d.done(batch);
      expect(summary).toMatchObject({ jobs, failed: 1 });
      expect(summary.answer).toEqual({ count: jobs - 1, failed: 1 });

      const runs = (seq: number) =>
        readExecutions(log)
          .filter((run) => run.seq === seq)
          .map((run) => run.attempt);
      // Exactly once: the batch is done, so nothing of job 3 is in flight or due any more.
      expect(runs(3)).toEqual([1]);
      // The plain failure beside it was retried.
      expect(runs(1)).toEqual([1, 2]);

      const message = 'item 3 does not exist (404)';
      expect(await d.ledger.listDead(batch)).toEqual([
        {
          batch,
          seq: 3,
          attempts: 1,
          payload: expect.objectContaining({ i: 3, fatal: true }),
          error: { name: 'NonRetryableError', message, retryable: false },
        },
      ]);
      const keys = d.ledger.keys.batch(batch);
      expect(await d.redis.hlen(keys.inflight)).toBe(0);
      expect(await d.redis.zcard(keys.leases)).toBe(0);
      expect(await metric(d.stack.sink, 'jobpipe_jobs_dead_lettered_total')).toBe(1);
      expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_dead_lettered_total')).toBe(0);

      const list = await runCli(['dead', 'list'], { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix }, cleanup).exited;
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout.trim().split('\n')).toEqual([`${batch}:3  attempts 1  NonRetryableError: ${message}`]);
    },
  );
});
