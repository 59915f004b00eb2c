/**
 * Single jobs (README, Single jobs): added one call at a time by producers, each with an id, run
 * beside batches with the same write-ahead, leases and exactly-once recording, and their outcome
 * read by id, from code and from the CLI. A job added again with its idempotency key is not added
 * twice; a failing job fails with its error; a bucket that no job rolls over closes, completes,
 * and so can expire.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durablePipeline, durableSuite, metric, readExecutions, startDurable } from './durable-helpers.js';
import { runCli, waitFor } from './helpers.js';

const suite = durableSuite('single-jobs');
const { cleanup, scratch } = suite;

describe('single jobs', () => {
  it('are added one call at a time, run once each, and their results read by id', async () => {
    const log = join(scratch, 'single.log');
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 2, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }) });
    const count = 300;
    // Many producers' calls at once: they share round trips.
    // Every tenth carries a large payload of multi-byte characters (held as bytes on its way).
    const pad = (i: number) => (i % 10 === 0 ? { pad: `${i}:${'é€😀'.repeat(1500)}` } : {});
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => d.client.add(d.pipeline, { i, log, ...pad(i) })));
    expect(new Set(ids).size).toBe(count);
    for (const id of ids) expect(id).toMatch(/^durable~[0-9a-f]+-\d+:\d+$/);
    const reports = await Promise.all(ids.map((id) => d.client.waitForJob(id, { timeoutMs: 30_000 })));
    for (const [i, report] of reports.entries())
      expect(report).toEqual({ id: ids[i], pipeline: 'durable', state: 'done', value: { i, attempt: 1, ...pad(i) } });
    expect(await d.client.getJob(ids[7]!)).toMatchObject({ state: 'done', value: { i: 7 } });
    // Each ran once.
    expect(readExecutions(log).length).toBe(count);
    // The bucket closes once no job comes for a while, then completes like a batch.
    const bucket = ids[0]!.slice(0, ids[0]!.lastIndexOf(':'));
    await waitFor('the bucket completed', async () => (await d.ledger.batchInfo(bucket))?.status === 'done', 15_000, 100);
    expect((await d.ledger.batchInfo(bucket))?.summary?.jobs).toBeGreaterThan(0);
    expect(await d.redis.xlen(d.ledger.keys.jobs('durable').stream)).toBe(0);
  });

  it('a job added again with its key is one job; a failing job fails with its error; an unknown id is unknown', async () => {
    const log = join(scratch, 'keyed.log');
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1 });
    const [first, again] = await Promise.all([
      d.client.add(d.pipeline, { i: 1, log }, { jobId: 'order-17' }),
      d.client.add(d.pipeline, { i: 2, log }, { jobId: 'order-17' }),
    ]);
    expect(again).toBe(first);
    expect(await d.client.add(d.pipeline, { i: 3, log }, { jobId: 'order-17' })).toBe(first);
    expect(await d.client.waitForJob(first, { timeoutMs: 30_000 })).toMatchObject({ state: 'done', value: { i: 1 } });
    expect(readExecutions(log).length).toBe(1);
    // The durable fixture gives no retries: the first failure is final.
    const failing = await d.client.add(d.pipeline, { i: 4, failUntil: 9 });
    expect(await d.client.waitForJob(failing, { timeoutMs: 30_000 })).toMatchObject({
      state: 'failed',
      error: { name: 'Error', message: expect.stringContaining('fails on attempt 1') },
    });
    expect(await d.client.getJob('durable~0-1:5')).toBeUndefined();
    expect(await d.client.getJob('not a job')).toBeUndefined();
    await expect(d.client.add(d.pipeline, { i: 5 }, { priority: 0 })).rejects.toThrow(/priority must be/);
    await expect(d.client.add(d.pipeline, { big: 'x'.repeat(5_000_000) })).rejects.toThrow(/bytes; a message carries/);
  });

  it("a job above the roles' message limit (added where the client allows more) fails at once as JobTooLarge; the next one runs", async () => {
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: durablePipeline,
      workers: 1,
      env: { JOBPIPE_MAX_MESSAGE_BYTES: '65536' },
    });
    const big = await d.client.add(d.pipeline, { i: 1, pad: 'x'.repeat(100_000) });
    const small = await d.client.add(d.pipeline, { i: 2 });
    expect(await d.client.waitForJob(big, { timeoutMs: 30_000 })).toMatchObject({
      state: 'failed',
      error: { name: 'JobTooLarge', message: expect.stringMatching(/^a Jobs message with it alone has \d+ bytes; messages are limited to 65536/) },
    });
    expect(await d.client.waitForJob(small, { timeoutMs: 30_000 })).toMatchObject({ state: 'done', value: { i: 2 } });
    // No worker was sent it: none dropped a message as too large.
    expect(await metric(d.stack.workers[0]!, 'jobpipe_malformed_messages_total', { reason: 'too_large' })).toBe(0);
  });

  it('a delayed job runs no earlier than its time', async () => {
    const log = join(scratch, 'delayed.log');
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1 });
    const addedAt = Date.now();
    const id = await d.client.add(d.pipeline, { i: 1, log }, { delayMs: 1500 });
    expect(await d.client.getJob(id)).toMatchObject({ state: 'queued' });
    expect(await d.client.waitForJob(id, { timeoutMs: 30_000 })).toMatchObject({ state: 'done' });
    const [run] = readExecutions(log);
    expect(run!.at - addedAt).toBeGreaterThanOrEqual(1500);
    expect(run!.at - addedAt).toBeLessThan(5000);
  });

  it('jobpipe add and jobpipe job: the id, the outcome with --wait, where a job stands', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1 });
    const env = { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix, JOBPIPE_PIPELINE: durablePipeline };
    const added = await runCli(['add', '--payload', '{"i":41}', '--wait'], env, cleanup).exited;
    expect(added.code, added.stderr).toBe(0);
    const [id, pipeline, state, value] = added.stdout.trim().split('  ');
    expect([pipeline, state, value]).toEqual(['durable', 'done', '{"i":41,"attempt":1}']);
    const shown = await runCli(['job', id!, '--json'], env, cleanup).exited;
    expect(JSON.parse(shown.stdout)).toEqual({ id, pipeline: 'durable', state: 'done', value: { i: 41, attempt: 1 } });
    const unknown = await runCli(['job', 'durable~1-1:0'], env, cleanup).exited;
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, expect.stringMatching(/^jobpipe: job durable~1-1:0 is unknown/)]);
    const bad = await runCli(['add', '--payload', '{"i":1}', '--priority', '0'], env, cleanup).exited;
    expect(bad.code).toBe(2);
  });
});
