/**
 * Durable mode, processes that come and go (README, Guarantees 4 and 6): a batch
 * submitted while no ventilator runs waits and completes once one starts; a ventilator SIGKILLed
 * mid-batch is replaced and the new one resumes without running recorded jobs again; Redis itself
 * SIGKILLed and restarted from its AOF keeps every in-flight job, and readiness follows it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { RedisServer } from '@jobpipe/launcher';
import { Cleanup, echoPipeline, logsOnce, runCli, sleep, waitFor, within } from './helpers.js';
import { durablePipeline, metric, readyz, startDurable, startRedis, stopRedis, readExecutions } from './durable-helpers.js';

const cleanup = new Cleanup();
let server: RedisServer | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'jobpipe-durable-restart-'));
/** Servers a test started for itself (the Redis restart test kills its own). */
const ownServers: RedisServer[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  await cleanup.run();
  for (const own of ownServers.splice(0)) await stopRedis(own);
});
afterAll(async () => {
  await cleanup.run();
  await stopRedis(server);
  rmSync(scratch, { recursive: true, force: true });
});

const sumTo = (n: number) => (n * (n - 1)) / 2;

describe('durable restarts', () => {
  it('a batch submitted while no ventilator runs stays queued, and completes once one starts', async () => {
    const d = await startDurable(cleanup, { server: server!, pipeline: echoPipeline, workers: 1, ventilator: false });
    const batch = 'late-start';
    const jobs = 20;
    // `jobpipe submit --wait`: queues the batch and follows it to its end.
    const submit = runCli(
      ['submit', '--pipeline', echoPipeline, '--input', JSON.stringify({ jobs }), '--batch-id', batch, '--wait'],
      { JOBPIPE_REDIS_URL: server!.url, JOBPIPE_REDIS_PREFIX: d.prefix },
      cleanup,
    );
    await waitFor('the submission', () => submit.stdout.includes(`submitted ${batch}`));
    const queued = await d.client.status('echo', batch);
    expect(queued).toMatchObject({ batch, state: 'queued', done: 0, total: null, failed: 0, summary: null });
    // It waits: nothing takes it, the ledger has not heard of it.
    await sleep(500);
    expect((await d.client.status('echo', batch))?.state).toBe('queued');
    expect(await d.ledger.batchInfo(batch)).toBeUndefined();
    expect(submit.child.exitCode).toBeNull();

    await d.startVentilator();
    const exit = await within('submit --wait', 30_000, submit.exited);
    expect(exit.code, exit.stderr).toBe(0);
    const lines = exit.stdout.trim().split('\n');
    expect(lines[0]).toBe(`submitted ${batch}; waiting for it to finish`);
    expect(lines.find((line) => line.includes(`${batch}  echo  queued  `))).toBeDefined();
    expect(lines.at(-1)).toMatch(new RegExp(`^done: ${jobs} jobs, 0 failed, .* answer \\{"count":${jobs},"sum":${sumTo(jobs)},"failed":0\\}$`));
    expect(await d.client.status('echo', batch)).toMatchObject({ state: 'done', done: jobs, total: jobs, failed: 0 });
  });

  it('a ventilator SIGKILLed mid-batch: the next one resumes it and runs no recorded job again', async () => {
    const log = join(scratch, 'resume.log');
    const d = await startDurable(cleanup, {
      server: server!,
      pipeline: durablePipeline,
      workers: 2,
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '2' }),
      // The batch stays claimed by the dead ventilator for 1 s. Jobs it admitted but never got
      // onto the wire come back after their 3 s lease.
      ventilatorEnv: { JOBPIPE_INTAKE_LOCK_MS: '1000', JOBPIPE_LEASE_MS: '3000' },
    });
    const batch = 'resume';
    const jobs = 300;
    const keys = d.ledger.keys.batch(batch);
    await d.submit({ jobs, workMs: 30, log }, batch);
    const first = d.stack.ventilator!;
    await waitFor('30 results recorded', async () => ((await d.ledger.batchInfo(batch))?.recorded ?? 0) >= 30, 30_000, 20);
    first.child.kill('SIGKILL');
    await first.exited;

    // The workers finish what they hold; the sink records it. Then, with no ventilator, the
    // ledger knows every job that was ever dispatched: recorded or still in flight.
    await sleep(500);
    const [[, recordedSeqs], [, inflightSeqs]] = (await d.redis.multi().hkeys(keys.results).hkeys(keys.inflight).exec()) as [
      [null, string[]],
      [null, string[]],
    ];
    const snapshotAt = Date.now();
    const recorded = new Set(recordedSeqs.map(Number));
    const known = new Set([...recorded, ...inflightSeqs.map(Number)]);
    expect(recorded.size).toBeGreaterThanOrEqual(30);
    expect(recorded.size).toBeLessThan(jobs);

    const second = await d.startVentilator();
    const summary = await d.done(batch, 45_000);
    expect(summary.failed).toBe(0);
    expect(summary.answer).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
    await logsOnce(second, 'batch resumed');

    // No job recorded before the restart ran again after it. (Jobs in flight at the kill may
    // legitimately run twice; recorded ones must not.)
    const rerun = readExecutions(log).filter((e) => e.at >= snapshotAt && recorded.has(e.seq));
    expect(rerun, 'recorded jobs executed again after the restart').toEqual([]);
    expect(await d.redis.hlen(keys.results)).toBe(jobs);
    expect(await d.redis.hlen(keys.inflight)).toBe(0);
    // The new ventilator sent out fresh only what the ledger had never seen; whatever else it
    // dispatched came from the ledger's in-flight jobs (redeliveries).
    const dispatched = await metric(second, 'jobpipe_jobs_dispatched_total');
    const redelivered = await metric(second, 'jobpipe_jobs_redelivered_total');
    expect(dispatched - redelivered).toBeLessThanOrEqual(jobs - known.size);
    expect(dispatched).toBeLessThanOrEqual(jobs - recorded.size + redelivered);
    // Every job ran at least once in all.
    expect(new Set(readExecutions(log).map((e) => e.seq)).size).toBe(jobs);
  });

  it('a ventilator stopped with SIGTERM mid-split hands the batch back whole: the next one resumes it, and every job is recorded once', async () => {
    // Jobs in transit as the socket closes come back by their lease: 10 s, not the 60 s default.
    const d = await startDurable(cleanup, { server: server!, pipeline: echoPipeline, workers: 2, ventilatorEnv: { JOBPIPE_LEASE_MS: '10000' } });
    const jobs = 200_000;
    await d.submit({ jobs }, 'mid-split');
    await waitFor('the batch well under way', async () => ((await d.ledger.batchInfo('mid-split'))?.recorded ?? 0) >= 20_000, 60_000, 20);
    const first = d.stack.ventilator!;
    expect(await first.stop('SIGTERM', 20_000)).toBe(0);
    // Not cancelled, not ended short: its split stopped with the ventilator, it did not fail.
    expect((await d.ledger.batchInfo('mid-split'))?.status).toBe('running');
    await d.startVentilator();
    expect(await d.done('mid-split', 90_000)).toMatchObject({ jobs, failed: 0, duplicates: 0 });
  }, 180_000);

  it('a ventilator stopped with SIGTERM hands its batch back; it and the sink stop within seconds even while Redis is away', async () => {
    const own = await startRedis();
    ownServers.push(own);
    const d = await startDurable(cleanup, { server: own, pipeline: echoPipeline, workers: 0 });
    // Claimed and waiting for workers: the first ventilator holds it.
    await d.submit({ jobs: 50 }, 'handed-back');
    await waitFor('the batch claimed', async () => (await d.client.status('echo', 'handed-back'))?.state === 'running');
    await d.stack.ventilator!.stop();
    await logsOnce(d.stack.ventilator!, 'handed its batches back to the queue');
    // The next one takes it at once (the intake lock is 30 s), and runs it once a worker comes.
    const next = await d.startVentilator();
    const resumed = await logsOnce(next, 'batch resumed', 1, 10_000);
    expect(resumed[0]).toMatchObject({ batch: 'handed-back' });
    await d.stack.addWorker();
    expect(await d.done('handed-back', 15_000)).toMatchObject({ jobs: 50, failed: 0 });

    // Redis away: the stop does not wait for it past a few seconds, and exits 0.
    await d.submit({ jobs: 50, workMs: 100000 }, 'stuck');
    await waitFor('the second batch claimed', async () => (await d.client.status('echo', 'stuck'))?.state === 'running');
    await own.kill('SIGKILL');
    const stoppedAt = Date.now();
    const code = await next.stop('SIGTERM', 20_000);
    expect(code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    // Quietly: no connection left retrying after its owner closed (the intake's, once).
    expect(next.stderr).not.toContain('Unhandled error event');
    // The sink as well, though results it holds wait for Redis: their jobs come back by lease.
    const sinkStoppedAt = Date.now();
    expect(await d.stack.sink.stop('SIGTERM', 20_000)).toBe(0);
    expect(Date.now() - sinkStoppedAt).toBeLessThan(10_000);
    // The worker would finish the 100 s job it holds first (its drain): not this test's subject.
    d.stack.killNow();
  });

  it('Redis SIGKILLed mid-batch and restarted from its AOF: every job completes; readiness goes 503 and back to 200', async () => {
    const own = await startRedis();
    ownServers.push(own);
    // The launcher's AOF fsyncs every second; Redis may then hold back a write for up to 2 s while
    // a slow fsync runs, replying meanwhile, so a crash in that window (a busy disk: other work on
    // this machine) loses writes it acknowledged. This test is about what jobpipe does with a
    // Redis that comes back with what it acknowledged, so it asks for no such window.
    await within(
      'CONFIG SET',
      5000,
      (async () => {
        const admin = new Redis(own.url, { maxRetriesPerRequest: 1 });
        try {
          await admin.config('SET', 'appendfsync', 'always');
        } finally {
          admin.disconnect();
        }
      })(),
    );
    const d = await startDurable(cleanup, {
      server: own,
      pipeline: durablePipeline,
      workers: 2,
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '2' }),
      ventilatorEnv: { JOBPIPE_LEASE_MS: '5000' },
    });
    const batch = 'redis-restart';
    // 400 jobs of 20 ms on 4 slots: at least 2 s, so the kill below comes mid-batch.
    const jobs = 400;
    const keys = d.ledger.keys.batch(batch);
    await d.submit({ jobs, workMs: 20 }, batch);
    await waitFor('20 results recorded', async () => ((await d.ledger.batchInfo(batch))?.recorded ?? 0) >= 20, 30_000, 20);
    // Mid-batch: some recorded, some in flight (one atomic look).
    const [recordedSeqs, inflightSeqs] = await waitFor(
      'jobs in flight',
      async () => {
        const [[, results], [, inflight]] = (await d.redis.multi().hkeys(keys.results).hkeys(keys.inflight).exec()) as [[null, string[]], [null, string[]]];
        return inflight.length > 0 ? ([results, inflight] as const) : undefined;
      },
      10_000,
      10,
    );
    expect(recordedSeqs.length).toBeLessThan(jobs);

    await own.kill('SIGKILL');
    const { ventilator, sink } = { ventilator: d.stack.ventilator!, sink: d.stack.sink };
    await waitFor(
      'ventilator and sink not ready while Redis is down',
      async () => (await readyz(ventilator)) === 503 && (await readyz(sink)) === 503,
      20_000,
      100,
    );
    // Down a little longer: work piles up against the missing ledger.
    await sleep(500);
    expect(ventilator.running && sink.running).toBe(true);

    await own.startProcess();
    // What Redis acknowledged before the crash is back from the AOF: every job that was in flight
    // is still in flight or has been recorded since, and no recorded result is lost.
    const [[, recordedAfter], [, inflightAfter]] = (await d.redis.multi().hkeys(keys.results).hkeys(keys.inflight).exec()) as [
      [null, string[]],
      [null, string[]],
    ];
    const after = new Set([...recordedAfter, ...inflightAfter]);
    expect(inflightSeqs.filter((seq) => !after.has(seq))).toEqual([]);
    expect(recordedSeqs.filter((seq) => !recordedAfter.includes(seq))).toEqual([]);
    await waitFor('ventilator and sink ready again', async () => (await readyz(ventilator)) === 200 && (await readyz(sink)) === 200, 20_000, 100);

    const summary = await d.done(batch, 45_000);
    expect(summary.failed).toBe(0);
    expect(summary.answer).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(await d.redis.hlen(keys.results)).toBe(jobs);
    expect(await d.redis.hlen(keys.inflight)).toBe(0);
    expect(await d.ledger.listDead(batch)).toEqual([]);
  });
});
