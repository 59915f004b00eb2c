/**
 * Durable mode, retention (README, Retention): a done batch's keys expire after
 * JOBPIPE_RETENTION (a submission's own --retention wins), a batch with dead letters after
 * JOBPIPE_DEAD_RETENTION, and then nothing of the batch is left in Redis: no key of it, no entry
 * in the list of batches, and (once a later batch of its queue is done) no BullMQ intake job.
 * `jobpipe results` pages a batch's results until then, and says when they are gone.
 */
import { describe, expect, it } from 'vitest';
import { runCli, waitFor } from './helpers.js';
import { durablePipeline, durableSuite, scanKeys, startDurable, type Durable } from './durable-helpers.js';

const suite = durableSuite('retention');
const { cleanup } = suite;

/** The sink keeps done batches 2 s, those with dead letters 4 s. */
const RETENTION = { JOBPIPE_RETENTION: '2s', JOBPIPE_DEAD_RETENTION: '4s' };

async function stack(): Promise<Durable> {
  return startDurable(cleanup, { server: suite.server, pipeline: durablePipeline, workers: 1, env: RETENTION });
}

/** Every key in Redis that names the batch: the ledger's (its hash tag) and BullMQ's (its job id). */
function keysNaming(d: Durable, batch: string): Promise<string[]> {
  return scanKeys(d.redis, `${d.prefix}:*${batch}*`);
}

function cli(d: Durable, args: string[]) {
  return runCli(args, { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix }, cleanup).exited;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('retention', () => {
  it('a done batch can be read, then every key of it expires, its list entry goes, and its BullMQ job with the next batch', async () => {
    const d = await stack();
    const batch = 'ret-a';
    await d.submit({ jobs: 40 }, batch);
    const summary = await d.done(batch);
    expect(summary).toMatchObject({ jobs: 40, failed: 0 });

    // Readable now: every result, by seq, through the client's stream.
    const results = [];
    for await (const result of d.client.results(batch, { pageSize: 15 })) results.push(result);
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(results[7]).toEqual({ seq: 7, value: { i: 7, attempt: 1 } });
    const k = d.ledger.keys.batch(batch);
    for (const key of [k.meta, k.results, k.workers, k.submitted]) {
      const ttl = await d.redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(2000);
    }
    expect(await d.ledger.listBatches()).toContain(batch);

    // Gone: every ledger key, then (the sink trims on its reconcile timer) the list's entry.
    await waitFor('the batch keys to expire', async () => (await scanKeys(d.redis, `${d.prefix}:*{${batch}}*`)).length === 0, 5000);
    await waitFor('the list of batches to lose it', async () => !(await d.ledger.listBatches()).includes(batch), 5000);
    expect(await d.redis.zscore(d.ledger.keys.expiring, batch)).toBeNull();
    await expect(d.client.results(batch).next()).rejects.toThrow(/ret-a is unknown, or its results have expired/);

    // The intake job, still there, keeps the summary: the batch is done, not unknown.
    expect(await d.client.status(d.pipeline.name, batch)).toMatchObject({ state: 'done', done: 40, total: 40, summary: { jobs: 40 } });

    // BullMQ drops finished intake jobs older than the age of the job it finishes: the next batch
    // of the queue takes ret-a's along. This one has a retention of its own, shorter.
    expect(await d.client.queue(d.pipeline.name).getJob(batch)).toBeDefined();
    await d.client.submit(d.pipeline, { jobs: 3 }, { batchId: 'ret-b', retentionMs: 1000 });
    await d.done('ret-b');
    const ttl = await d.redis.pttl(d.ledger.keys.batch('ret-b').meta);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    await waitFor('the intake job to go', async () => (await d.client.queue(d.pipeline.name).getJob(batch)) === undefined, 5000);
    expect(await keysNaming(d, batch)).toEqual([]);
  });

  it('a done batch with dead letters keeps them, and every key of it, for the dead retention', async () => {
    const d = await stack();
    const batch = 'ret-dead';
    await d.submit({ jobs: 6, failUntil: { 3: 99 } }, batch);
    expect(await d.done(batch)).toMatchObject({ jobs: 6, failed: 1 });
    const ttl = await d.redis.pttl(d.ledger.keys.batch(batch).dead);
    expect(ttl).toBeGreaterThan(2000);
    expect(ttl).toBeLessThanOrEqual(4000);

    // Past the plain retention: all still there, for `jobpipe dead list` and `retry`.
    await sleep(2500);
    expect((await d.ledger.listDead(batch)).map((letter) => letter.seq)).toEqual([3]);
    expect(await d.ledger.batchInfo(batch)).toMatchObject({ status: 'done', recorded: 5, dead: 1 });
    const results = [];
    for await (const result of d.client.results(batch)) results.push(result.seq);
    expect(results).toEqual([0, 1, 2, 4, 5]);

    await waitFor('the batch keys to expire', async () => (await scanKeys(d.redis, `${d.prefix}:*{${batch}}*`)).length === 0, 5000);
    expect(await d.ledger.listDead(batch)).toEqual([]);
    expect(await d.ledger.batchInfo(batch)).toBeUndefined();
  });

  it('jobpipe submit --retention, then jobpipe results pages the results by seq; an unknown batch exits 2', async () => {
    const d = await stack();
    const submitted = await cli(d, ['submit', '--pipeline', durablePipeline, '--input', '{"jobs":25}', '--batch-id', 'ret-cli', '--retention', '1m', '--json']);
    expect(submitted.code, submitted.stderr).toBe(0);
    await d.done('ret-cli');
    const ttl = await d.redis.pttl(d.ledger.keys.batch('ret-cli').results);
    expect(ttl).toBeGreaterThan(50_000);

    const first = await cli(d, ['results', 'ret-cli', '--limit', '10']);
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(10);
    expect(JSON.parse(lines[0]!)).toEqual({ seq: 0, value: { i: 0, attempt: 1 } });
    expect(first.stderr).toBe('jobpipe: more results from --cursor 10\n');
    const rest = await cli(d, ['results', 'ret-cli', '--cursor', '10']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(
      rest.stdout
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { seq: number }).seq),
    ).toEqual(Array.from({ length: 15 }, (_, i) => 10 + i));
    expect(rest.stderr).toBe('');

    const unknown = await cli(d, ['results', 'no-such-batch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(
      /^jobpipe: batch no-such-batch is unknown, or its results have expired \(a done batch's keys stay for JOBPIPE_RETENTION, 24h by default\)\n$/,
    );
    const badCursor = await cli(d, ['results', 'ret-cli', '--cursor', 'nope']);
    expect(badCursor.code).toBe(2);
    expect(badCursor.stderr).toMatch(/--cursor "nope" is not a cursor/);
  });
});
