/**
 * Durable mode, bad submissions (README, Submitting batches): "an invalid submission gets one clear
 * error and nothing half-written". `jobpipe submit` exits 2 with one line naming what is wrong
 * (each failing field by its path, for a pipeline that declares its input with a schema), the
 * client API throws SubmissionError, and Redis holds not one key more than before. A batch that
 * bypassed submit (another client wrote it to the queue) is checked by the ventilator, which fails
 * it with the same message before writing or splitting anything.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { RedisServer } from '@jobpipe/launcher';
import { JobpipeClient, SubmissionError } from '@jobpipe/intake';
import { loadPipeline } from '@jobpipe/pipeline';
import { Cleanup, echoPipeline, primesPipeline, runCli, waitFor } from './helpers.js';
import { durablePipeline, keysOf, metric, notAPipeline, scanKeys, startDurable, startRedis, stopRedis, uniquePrefix } from './durable-helpers.js';

const cleanup = new Cleanup();
let server: RedisServer | undefined;
let redis: Redis | undefined;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 3 });
});
afterEach(() => cleanup.run());
afterAll(async () => {
  await cleanup.run();
  redis?.disconnect();
  await stopRedis(server);
});

/** `jobpipe submit ...args` against the test's Redis with its own prefix. */
function submit(args: string[], prefix: string) {
  return runCli(['submit', ...args], { JOBPIPE_REDIS_URL: server!.url, JOBPIPE_REDIS_PREFIX: prefix }, cleanup).exited;
}

/** A client of the test's server under `prefix`, closed by the cleanup. */
function clientOf(prefix: string): JobpipeClient {
  const client = new JobpipeClient(new Redis(server!.url, { maxRetriesPerRequest: 3 }), prefix);
  cleanup.add('client', async () => {
    await client.close();
    client.redis.disconnect();
  });
  return client;
}

/** Everything in the server (one per file, used by this file's tests one at a time). */
async function everything(): Promise<{ size: number; keys: string[] }> {
  return { size: await redis!.dbsize(), keys: await scanKeys(redis!) };
}

describe('bad submissions', () => {
  it('jobpipe submit refuses each with exit code 2 and one line naming the problem, and writes nothing', async () => {
    const before = await everything();
    const cases: { what: string; args: string[]; message: RegExp }[] = [
      { what: 'unknown pipeline module', args: ['--pipeline', '/nope.mjs', '--input', '{"jobs":1}'], message: /\/nope\.mjs/ },
      {
        what: 'a module that is no pipeline',
        args: ['--pipeline', notAPipeline, '--input', '{"jobs":1}'],
        message: /not-a-pipeline\.mjs has no default export/,
      },
      {
        what: 'a field its schema rejects',
        args: ['--pipeline', echoPipeline, '--input', '{"jobs":-1}'],
        message: /echo rejects the input: input\.jobs: Invalid value: Expected >=0 but received -1$/,
      },
      {
        what: 'a field of the wrong type',
        args: ['--pipeline', echoPipeline, '--input', '{"jobs":"many"}'],
        message: /echo rejects the input: input\.jobs: Invalid type: Expected number but received "many"$/,
      },
      {
        what: 'several bad fields',
        args: ['--pipeline', primesPipeline, '--input', '{"limit":1,"chunk":"big"}'],
        message: /primes rejects the input: input\.limit: Too small: expected number to be >=2; input\.chunk: Invalid input: expected number, received string$/,
      },
      {
        what: 'a field its schema does not know',
        args: ['--pipeline', echoPipeline, '--input', '{"jobs":1,"wrokMs":5}'],
        message: /echo rejects the input: input\.wrokMs: Invalid key: Expected never but received "wrokMs"$/,
      },
      {
        what: 'no object at all',
        args: ['--pipeline', echoPipeline, '--input', '[1]'],
        message: /echo rejects the input: input\.jobs: Invalid key: Expected "jobs" but received undefined; input\["0"\]: Invalid key/,
      },
      {
        what: 'input its validate() rejects',
        args: ['--pipeline', durablePipeline, '--input', '{"jobs":"many"}'],
        message: /durable rejects the input: input\.jobs must be an integer >= 0, got "many"/,
      },
      { what: 'input that is not JSON', args: ['--pipeline', echoPipeline, '--input', '{"jobs":'], message: /JOBPIPE_INPUT|--input/ },
      { what: 'no input at all', args: ['--pipeline', echoPipeline], message: /JOBPIPE_INPUT|--input/ },
      {
        what: 'a batch id that cannot be one',
        args: ['--pipeline', echoPipeline, '--input', '{"jobs":1}', '--batch-id', 'two words'],
        message: /batch id "two words" must be/,
      },
    ];
    const prefixes = cases.map(() => uniquePrefix('bad'));
    // All at once: none of them may write anything, so they cannot disturb each other.
    const results = await Promise.all(cases.map((c, i) => submit(c.args, prefixes[i]!)));
    results.forEach((result, i) => {
      const c = cases[i]!;
      expect(result.code, `${c.what}: exit code (stderr: ${result.stderr})`).toBe(2);
      expect(result.stdout, `${c.what}: stdout`).toBe('');
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, `${c.what}: one line on stderr`).toHaveLength(1);
      expect(lines[0], c.what).toMatch(/^jobpipe: /);
      expect(lines[0], c.what).toMatch(c.message);
    });
    for (const prefix of prefixes) expect(await keysOf(redis!, prefix)).toEqual([]);
    expect(await everything()).toEqual(before);
  });

  it('a batch id that exists already is refused and the existing batch is left as it was', async () => {
    const prefix = uniquePrefix('dup-id');
    const first = await submit(['--pipeline', echoPipeline, '--input', '{"jobs":3}', '--batch-id', 'b1'], prefix);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('submitted b1\n');
    const keys = await keysOf(redis!, prefix);
    expect(keys.length).toBeGreaterThan(0);
    const jobKey = keys.find((key) => key.endsWith(':b1'))!;
    expect(jobKey).toBeDefined();
    const job = await redis!.hgetall(jobKey);
    const before = await everything();

    const again = await submit(['--pipeline', echoPipeline, '--input', '{"jobs":5}', '--batch-id', 'b1'], prefix);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe('jobpipe: batch b1 already exists\n');
    expect(await everything()).toEqual(before);
    expect(await redis!.hgetall(jobKey)).toEqual(job);
  });

  it("a batch's status names its own pipeline: another pipeline's queue, asked about it, answers nothing", async () => {
    const prefix = uniquePrefix('status-of');
    const client = clientOf(prefix);
    const echo = await loadPipeline(echoPipeline);
    const durable = await loadPipeline(durablePipeline);
    // Both pipelines known to the client; a ventilator has begun the echo batch in the ledger.
    await client.submit(durable, { jobs: 1 }, { batchId: 'other' });
    await client.submit(echo, { jobs: 1 }, { batchId: 'e1' });
    await client.ledger.beginBatch('e1', echo.name);
    expect(await client.status(durable.name, 'e1')).toBeUndefined();
    expect((await client.status(echo.name, 'e1'))?.pipeline).toBe(echo.name);
    expect((await client.find('e1'))?.pipeline).toBe(echo.name);
  });

  it('the client API throws SubmissionError naming the field, and writes nothing', async () => {
    const prefix = uniquePrefix('api');
    const client = clientOf(prefix);
    const before = await everything();
    const echo = await loadPipeline(echoPipeline);
    const durable = await loadPipeline(durablePipeline);
    await expect(client.submit(echo, { jobs: -1 })).rejects.toThrow(SubmissionError);
    await expect(client.submit(echo, { jobs: -1 })).rejects.toThrow(/input\.jobs: Invalid value: Expected >=0/);
    await expect(client.submit(echo, { jobs: 'x' }, { batchId: 'ok-id' })).rejects.toThrow(
      'echo rejects the input: input.jobs: Invalid type: Expected number but received "x"',
    );
    await expect(client.submit(echo, { jobs: 2, spin: 'yes' })).rejects.toThrow(
      'echo rejects the input: input.spin: Invalid type: Expected boolean but received "yes"',
    );
    await expect(client.submit(durable, { jobs: 1.5 })).rejects.toThrow(/input\.jobs must be an integer >= 0, got 1\.5/);
    await expect(client.submit(durable, null)).rejects.toThrow(SubmissionError);
    await expect(client.submit(echo, { jobs: 1 }, { batchId: 'a:b' })).rejects.toThrow(/batch id "a:b" must be/);
    expect(await keysOf(redis!, prefix)).toEqual([]);
    expect(await everything()).toEqual(before);
  });

  it('the ventilator fails a batch that bypassed submit with the same message, writing and splitting nothing', async () => {
    const bad = { jobs: 'many' };
    const message = 'echo rejects the input: input.jobs: Invalid type: Expected number but received "many"';
    // (A rejected --input stops the ventilator at start with this message: startup-errors.test.ts.)
    const d = await startDurable(cleanup, { server: server!, pipeline: echoPipeline, workers: 1 });

    // Another client's batch, queued without submit's check.
    await d.client.queue('echo').add('batch', { pipeline: 'echo', input: bad, submittedAt: Date.now() }, { jobId: 'foreign', attempts: 1 });
    const report = await waitFor('the foreign batch to fail', async () => {
      const status = await d.client.status('echo', 'foreign');
      return status?.state === 'failed' ? status : undefined;
    });
    expect(report.error).toBe(message);
    await expect(d.client.waitForBatch('echo', 'foreign')).rejects.toThrow(`batch foreign failed: ${message}`);
    const keys = await keysOf(redis!, d.prefix);
    expect(keys.filter((key) => key.includes(':batch:'))).toEqual([]);
    expect(await d.ledger.listBatches()).toEqual([]);
    expect(d.stack.ventilator!.logs('batch started')).toEqual([]);

    // A good batch after them runs as usual.
    await d.submit({ jobs: 5 }, 'good');
    expect((await d.done('good')).answer).toMatchObject({ count: 5, sum: 10 });
  });

  it('a batch whose split fails midway (a payload above the message limit) fails, and leaves nothing in Redis for good', async () => {
    const d = await startDurable(cleanup, { server: server!, pipeline: echoPipeline, workers: 1, env: { JOBPIPE_MAX_MESSAGE_BYTES: '65536' } });
    await d.submit({ jobs: 3, payloadBytes: 100_000 }, 'too-big');
    const report = await waitFor('the batch to fail', async () => {
      const status = await d.client.status('echo', 'too-big');
      return status?.state === 'failed' ? status : undefined;
    });
    expect(report.error).toMatch(/has a payload of \d+ bytes; messages are limited to 65536/);
    // Cancelled in the ledger as it failed: the sink completes it, and its keys expire with its retention.
    await waitFor('the sink to complete it', async () => (await d.ledger.batchInfo('too-big'))?.status === 'done');
    expect(await d.redis.pttl(d.ledger.keys.batch('too-big').meta)).toBeGreaterThan(0);
    await waitFor('no batch open in the sink', async () => (await metric(d.stack.sink, 'jobpipe_batches_open')) === 0);
    expect((await d.client.status('echo', 'too-big'))?.state).toBe('failed');
  });
});
