/**
 * A pipeline's controls (README, Scheduling): `jobpipe pause` stops its ventilators sending jobs
 * until `jobpipe resume`, and `jobpipe limit` holds the jobs sent per second over all of them to
 * the rate set, within 10%.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durablePipeline, durableSuite, readExecutions, startDurable } from './durable-helpers.js';
import { runCli, sleep } from './helpers.js';

const suite = durableSuite('controls');
const { cleanup, scratch } = suite;

describe('pipeline controls', () => {
  it('jobpipe pause: no job is sent until jobpipe resume; then every one runs', async () => {
    const log = join(scratch, 'paused.log');
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1 });
    const env = { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix };
    // A name nobody uses (a typo) is refused, and nothing is written for it.
    for (const args of [
      ['pause', 'durabel'],
      ['resume', 'durabel'],
      ['limit', 'durabel', '5'],
    ]) {
      const typo = await runCli(args, env, cleanup).exited;
      expect([typo.code, typo.stderr.trim()]).toEqual([2, 'jobpipe: pipeline durabel is unknown: nothing was submitted to it and no ventilator serves it']);
    }
    expect(await d.redis.exists(d.ledger.keys.controls('durabel'))).toBe(0);
    const paused = await runCli(['pause', 'durable'], env, cleanup).exited;
    expect([paused.code, paused.stdout.trim()]).toEqual([0, 'paused durable']);
    await sleep(600); // the ventilator reads the controls every 250 ms
    await d.submit({ jobs: 20, log }, 'held');
    const single = await d.client.add(d.pipeline, { i: 99, log });
    await sleep(1500);
    expect(readExecutions(log)).toEqual([]);
    expect(await d.client.getJob(single)).toMatchObject({ state: 'queued' });
    expect((await runCli(['limit', 'durable'], env, cleanup).exited).stdout.trim()).toBe("durable: rate limit each ventilator's JOBPIPE_RATE_LIMIT, paused");
    await runCli(['resume', 'durable'], env, cleanup).exited;
    expect((await d.done('held')).answer).toMatchObject({ count: 20, failed: 0 });
    expect(await d.client.waitForJob(single, { timeoutMs: 20_000 })).toMatchObject({ state: 'done' });
  });

  it('jobpipe limit: the jobs sent per second stay within 10% of the rate', async () => {
    const log = join(scratch, 'limited.log');
    const d = await startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 2, workerEnv: () => ({ JOBPIPE_CONCURRENCY: '8' }) });
    const env = { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix };
    const limited = await runCli(['limit', 'durable', '40'], env, cleanup).exited;
    expect([limited.code, limited.stdout.trim()]).toEqual([0, 'durable: rate limit 40 jobs/s']);
    await sleep(600);
    await d.submit({ jobs: 160, log }, 'limited');
    expect((await d.done('limited', 30_000)).answer).toMatchObject({ count: 160 });
    // The rate between the first and the last start (the first burst of a tenth of a second aside).
    const starts = readExecutions(log)
      .map((e) => e.at)
      .sort((a, b) => a - b);
    const rate = (starts.length - 1) / ((starts.at(-1)! - starts[0]!) / 1000);
    expect(rate).toBeGreaterThan(40 * 0.9);
    expect(rate).toBeLessThan(40 * 1.1);
    const off = await runCli(['limit', 'durable', 'off'], env, cleanup).exited;
    expect(off.stdout.trim()).toBe('durable: rate limit none');
    const bad = await runCli(['limit', 'durable', 'fast'], env, cleanup).exited;
    expect(bad.code).toBe(2);
  });
});
