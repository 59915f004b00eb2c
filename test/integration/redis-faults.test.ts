/**
 * When Redis forgets (issue 18): writes Redis acknowledged and then lost. A Sentinel failover
 * that promotes a replica which missed the master's last seconds, and a Redis restarted from an
 * older RDB snapshot. Either way the batch must still complete, every job recorded once, with the
 * right answer; and single jobs added before the snapshot, read by a ventilator only after it,
 * must all be done. Each test starts Redis processes of its own; none touches a Redis it did not
 * start.
 */
import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { RedisSentinelSet, type RedisServer } from '@jobpipe/launcher';
import { Cleanup, echoPipeline, sleep, waitFor } from './helpers.js';
import { durablePipeline, metric, startDurable, startRedis, stopRedis, uniquePrefix, type Durable } from './durable-helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

const sumTo = (n: number) => (n * (n - 1)) / 2;
/**
 * Jobs the forgetful Redis still lists in flight, though their results were recorded (and then
 * forgotten), come back when their lease runs out: 5 s, not the default minute.
 */
const lease = { JOBPIPE_LEASE_MS: '5000', JOBPIPE_REPAIR_CHECK_MS: '1000' };
const t0 = Date.now();
/** A timeline on stderr: what a failure (or a slow run) needs to be read. */
const note = (what: string) => process.stderr.write(`[redis-faults +${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);

/** The summary and what the ventilator sent again, for the timeline. */
async function noteDone(d: Durable, summary: Awaited<ReturnType<Durable['done']>>): Promise<void> {
  const ventilator = d.stack.ventilator!;
  const [dispatched, redelivered] = [await metric(ventilator, 'jobpipe_jobs_dispatched_total'), await metric(ventilator, 'jobpipe_jobs_redelivered_total')];
  const { count, sum, failed } = summary.answer as { count: number; sum: number; failed: number };
  note(
    `batch done: jobs ${summary.jobs}, failed ${summary.failed}, answer ${JSON.stringify({ count, sum, failed })}; dispatched ${dispatched}, redelivered ${redelivered}`,
  );
}

/** Results recorded so far (the ledger's meta hash), through the test's own client. */
async function recorded(d: Durable, batch: string): Promise<number> {
  return (await d.ledger.batchInfo(batch))?.recorded ?? 0;
}

/** Where a batch stands, read straight from one Redis: the meta hash and the sizes of its parts. */
async function ledgerState(server: RedisServer, d: Durable, batch: string): Promise<string> {
  const keys = d.ledger.keys.batch(batch);
  try {
    const [meta, inflight, results, dead] = await Promise.all([
      server.command(['HGETALL', keys.meta]),
      server.command(['HLEN', keys.inflight]),
      server.command(['HLEN', keys.results]),
      server.command(['HLEN', keys.dead]),
    ]);
    return `port ${server.port}: meta ${JSON.stringify(meta)}, inflight ${inflight}, results ${results}, dead ${dead}`;
  } catch (error) {
    return `port ${server.port}: ${(error as Error).message}`;
  }
}

/** Starts a Sentinel set, stopped after the test (and killed if the process exits first). */
async function startSentinelSet(): Promise<RedisSentinelSet> {
  const set = await RedisSentinelSet.start();
  cleanup.add('sentinel set', () => set.stop());
  process.once('exit', () => set.killNow());
  return set;
}

describe('when Redis forgets', () => {
  it('a Sentinel failover promotes a replica that missed the last seconds: the batch completes, every job recorded once', async () => {
    const started = Date.now();
    const set = await startSentinelSet();
    note(`sentinel set up in ${Date.now() - started} ms: master ${set.master.port}, replica ${set.replica.port}, sentinels ${set.sentinels}`);
    onTestFailed(() => {
      process.stderr.write(`${set.sentinelLogs()}\n`);
    });
    const d = await startDurable(cleanup, {
      server: set.master,
      pipeline: echoPipeline,
      prefix: uniquePrefix('failover'),
      workers: 2,
      // The URL gives only the scheme (jobpipe needs one); the master comes from the Sentinels.
      rolesRedisUrl: 'redis://sentinel-master.invalid',
      env: { JOBPIPE_REDIS_SENTINELS: set.sentinels, JOBPIPE_REDIS_SENTINEL_NAME: set.name },
      // The test's own client follows the failover too.
      clientOptions: { sentinels: set.sentinelEndpoints, name: set.name },
      ventilatorEnv: lease,
    });
    const batch = 'failover';
    const jobs = 12_000;
    const results = d.ledger.keys.batch(batch).results;
    // Paced at 2,000 jobs/s: about 6 s of split on any machine, so the faults fall mid-batch.
    await d.submit({ jobs, payloadBytes: 100, workMs: 0, ratePerSecond: 2000 }, batch);
    await waitFor('a third of the jobs recorded', async () => (await recorded(d, batch)) >= jobs / 3, 60_000, 50);
    note(`a third recorded (${await recorded(d, batch)}); pausing the replica`);

    await set.pauseReplica();
    await sleep(2000);
    const atKill = Number(await set.master.command(['HLEN', results]));
    await set.killMaster();
    set.resumeReplica();
    note(`master killed with ${atKill} results; waiting for the failover`);
    await set.waitForFailover(45_000);
    const promoted = Number(await set.replica.command(['HLEN', results]));
    note(`failover done: the promoted replica has ${promoted} results, ${atKill - promoted} fewer than the master had`);
    // The fault did what it is for: the new master forgot results the old one had acknowledged.
    expect(promoted).toBeLessThan(atKill);

    let summary: Awaited<ReturnType<Durable['done']>>;
    try {
      summary = await d.done(batch, 60_000);
    } catch (error) {
      note(`not done: ${await ledgerState(set.replica, d, batch)}`);
      throw error;
    }
    await noteDone(d, summary);
    expect(summary).toMatchObject({ jobs, failed: 0 });
    expect(summary.answer).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(Number(await set.replica.command(['HLEN', results]))).toBe(jobs);
  }, 120_000);

  it('writes that wait for the replica (JOBPIPE_REDIS_WAIT_REPLICAS=1): while it lags nothing new leaves, and the failover loses nothing the roles went on from', async () => {
    const set = await startSentinelSet();
    onTestFailed(() => {
      process.stderr.write(`${set.sentinelLogs()}\n`);
    });
    const wait = { JOBPIPE_REDIS_WAIT_REPLICAS: '1', JOBPIPE_REDIS_WAIT_TIMEOUT_MS: '200' };
    const d = await startDurable(cleanup, {
      server: set.master,
      pipeline: echoPipeline,
      prefix: uniquePrefix('wait'),
      workers: 2,
      rolesRedisUrl: 'redis://sentinel-master.invalid',
      env: { JOBPIPE_REDIS_SENTINELS: set.sentinels, JOBPIPE_REDIS_SENTINEL_NAME: set.name, ...wait },
      clientOptions: { sentinels: set.sentinelEndpoints, name: set.name },
      ventilatorEnv: lease,
    });
    const batch = 'replicated';
    const jobs = 8000;
    const ventilator = () => d.stack.ventilator!;
    await d.submit({ jobs, payloadBytes: 100, workMs: 0, ratePerSecond: 2000 }, batch);
    await waitFor('a third of the jobs recorded', async () => (await recorded(d, batch)) >= jobs / 3, 60_000, 50);

    await set.pauseReplica();
    // Write-aheads in flight when it stopped may still go out; after a second, none.
    await sleep(1000);
    const dispatchedThen = await metric(ventilator(), 'jobpipe_jobs_dispatched_total');
    await sleep(2000);
    const dispatchedAfter = await metric(ventilator(), 'jobpipe_jobs_dispatched_total');
    note(`replica paused: the ventilator dispatched ${dispatchedAfter - dispatchedThen} jobs in the next 2 s`);
    expect(dispatchedAfter).toBe(dispatchedThen);

    await set.killMaster();
    set.resumeReplica();
    await set.waitForFailover(45_000);
    // The new master has no replica: every write waits (and is tried again) until the old
    // master comes back as its replica (where the Sentinels would turn it, up to 10 s later).
    await sleep(1000);
    expect(await metric(ventilator(), 'jobpipe_jobs_dispatched_total')).toBe(dispatchedAfter);
    await set.restartMasterAsReplica();
    note('failover done; the old master is back as a replica');
    const summary = await d.done(batch, 60_000);
    await noteDone(d, summary);
    expect(summary).toMatchObject({ jobs, failed: 0 });
    expect(summary.answer).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
    // Nothing the roles acted on was lost: nothing needed repair.
    for (const [role, kinds] of [
      [ventilator(), ['jobs', 'batch']],
      [d.stack.sink, ['refold']],
    ] as const)
      for (const kind of kinds) expect(await metric(role, 'jobpipe_ledger_repairs_total', { kind }), `${kind} repairs`).toBe(0);
  }, 120_000);

  it('Redis restarted from an older RDB snapshot: the batch completes, every job recorded once', async () => {
    const server = await startRedis();
    cleanup.add('redis-server', () => stopRedis(server));
    const d = await startDurable(cleanup, { server, pipeline: echoPipeline, prefix: uniquePrefix('snapshot'), workers: 2, ventilatorEnv: lease });
    const batch = 'snapshot';
    const jobs = 12_000;
    const results = d.ledger.keys.batch(batch).results;
    await d.submit({ jobs, payloadBytes: 100, workMs: 0, ratePerSecond: 2000 }, batch);
    await waitFor('a sixth of the jobs recorded', async () => (await recorded(d, batch)) >= jobs / 6, 60_000, 50);

    const snapshot = await server.snapshot();
    const atSnapshot = Number(await server.command(['HLEN', results]));
    note(`snapshot taken with about ${atSnapshot} results`);
    await sleep(3000);
    const atKill = Number(await server.command(['HLEN', results]));
    await server.restartFrom(snapshot);
    const restored = Number(await server.command(['HLEN', results]));
    note(`Redis killed with ${atKill} results and restarted from the snapshot: ${restored} right after (at least ${atKill - restored} forgotten)`);
    expect(restored).toBeLessThan(atKill);

    let summary: Awaited<ReturnType<Durable['done']>>;
    try {
      summary = await d.done(batch, 60_000);
    } catch (error) {
      note(`not done: ${await ledgerState(server, d, batch)}`);
      throw error;
    }
    await noteDone(d, summary);
    expect(summary).toMatchObject({ jobs, failed: 0 });
    expect(summary.answer).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(Number(await server.command(['HLEN', results]))).toBe(jobs);
  }, 120_000);

  it('Redis restarted from a snapshot taken before the ventilator read single jobs: their bucket, begun in the writes lost, is begun again, and every job is done', async () => {
    const server = await startRedis();
    cleanup.add('redis-server', () => stopRedis(server));
    // No ventilator and no worker yet: the jobs wait on the stream, in one open bucket.
    const d = await startDurable(cleanup, {
      server,
      pipeline: durablePipeline,
      prefix: uniquePrefix('snapshot-single'),
      ventilator: false,
      ventilatorEnv: lease,
    });
    const count = 20;
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => d.client.add(d.pipeline, { i })));
    const bucket = ids[0]!.slice(0, ids[0]!.lastIndexOf(':'));
    const snapshot = await server.snapshot();
    // The ventilator reads the jobs and begins their bucket after the snapshot; with no worker
    // they wait in it, unsent. Then Redis forgets the begin and that they were read.
    await d.startVentilator();
    await waitFor('the bucket begun', async () => (await d.ledger.batchInfo(bucket)) !== undefined, 15_000, 50);
    const firstBegun = (await d.ledger.batchInfo(bucket))!.startedAt;
    await server.restartFrom(snapshot);
    // The begin went with the writes lost: the bucket is unknown, or begun again since (the
    // ventilator's ledger clock can see the loss before this looks).
    const after = await d.ledger.batchInfo(bucket);
    expect(after === undefined || after.startedAt > firstBegun).toBe(true);
    note(`bucket ${bucket} begun, then Redis restarted from a snapshot without it (${after ? 'begun again already' : 'unknown now'})`);
    await d.stack.addWorker();
    // Written ahead into a bucket the ledger did not know, the jobs' results would never be recorded.
    const reports = await Promise.all(ids.map((id) => d.client.waitForJob(id, { timeoutMs: 30_000 })));
    expect(reports.map((report) => report.state)).toEqual(Array(count).fill('done'));
    expect(reports.map((report) => (report.value as { i: number }).i)).toEqual(Array.from({ length: count }, (_, i) => i));
    await waitFor('the bucket done', async () => (await d.ledger.batchInfo(bucket))?.status === 'done', 15_000, 100);
  }, 90_000);
});
