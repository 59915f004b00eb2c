/**
 * Durable mode, delivery guarantees (README, Guarantees 1-3), with real processes and a real
 * redis-server of the test's own:
 * - write-ahead: a job is in the Redis ledger before it leaves the ventilator;
 * - at-least-once: a job whose attempt hangs, or whose worker is SIGKILLed, comes back with its
 *   attempt raised and completes;
 * - exactly-once recording: a duplicate result is counted and dropped, the ledger unchanged.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { echoPipeline, sleep, waitFor } from './helpers.js';
import {
  durableSuite,
  durablePipeline,
  FakeWorker,
  metric,
  okResult,
  ReplyDropper,
  ResultsPusher,
  startDurable,
  type ReceivedJob,
  readExecutions,
} from './durable-helpers.js';

const suite = durableSuite('durable-delivery');
const { cleanup, scratch } = suite;

const sumTo = (n: number) => (n * (n - 1)) / 2;

/** Waits until a client's command named by `commands` is held by a CLIENT PAUSE. */
const heldByPause = (redis: Redis, what: string, commands: RegExp) =>
  waitFor(
    `${what} held by the pause`,
    async () => {
      const clients = String(await redis.call('CLIENT', 'LIST')).split('\n');
      return clients.some((line) => /\bflags=\S*b/.test(line) && commands.test(line));
    },
    15_000,
  );

describe('durable delivery', () => {
  it('write-ahead: no worker sees a job before it is in the in-flight ledger with its lease', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: echoPipeline });
    const batch = 'wal';
    const jobs = 40;
    const keys = d.ledger.keys.batch(batch);
    await d.submit({ jobs, payloadBytes: 60 }, batch);
    // The ventilator has the batch and its whole split, waiting for credit: no worker exists yet.
    await waitFor('the split to be done', async () => (await d.ledger.batchInfo(batch))?.total === jobs);
    expect(await d.redis.hlen(keys.inflight)).toBe(0);

    // Asked the moment each Jobs message arrives, before anything else can happen to its jobs
    // (no result is sent until all have arrived, and the lease is a minute).
    const found: { seq: number; entry: string | null; expected: string; lease: string | null }[] = [];
    const fake = cleanup.socket(
      new FakeWorker(d.stack.endpoints.jobsConnect, 'fake-wal', async (received: ReceivedJob[]) => {
        const pipe = d.redis.pipeline();
        for (const job of received) pipe.hget(keys.inflight, String(job.seq)).zscore(keys.leases, String(job.seq));
        pipe.zrange(keys.packs, '0', '-1', 'WITHSCORES');
        const replies = (await pipe.exec())!;
        // A job's lease is its own, or its pack's: "<first seq>:<count>" (see expire-packs-3.lua).
        const packs = replies.at(-1)![1] as string[];
        const packLease = (seq: number) => {
          for (let i = 0; i < packs.length; i += 2) {
            const [first, count] = packs[i]!.split(':').map(Number);
            if (seq >= first! && seq < first! + count!) return packs[i + 1]!;
          }
          return null;
        };
        received.forEach((job, i) => {
          const lease = (replies[2 * i + 1]![1] as string | null) ?? packLease(job.seq);
          found.push({ seq: job.seq, entry: replies[2 * i]![1] as string | null, expected: `${job.attempt}|${JSON.stringify(job.payload)}`, lease });
        });
      }),
    );

    // Writes paused: the ventilator gets credit and tries to dispatch, but its write-ahead cannot
    // land. A ventilator that sent first and wrote after would deliver jobs during the pause.
    await d.redis.call('CLIENT', 'PAUSE', '20000', 'WRITE');
    cleanup.add('unpause', () => d.redis.call('CLIENT', 'UNPAUSE').catch(() => {}));
    await fake.grant(jobs);
    // The ventilator's write-ahead (a transaction for fresh jobs) is held by the pause...
    await heldByPause(d.redis, 'a write-ahead', /\bcmd=(eval|evalsha|exec)\b/);
    // ...and nothing reaches the worker meanwhile.
    await sleep(300);
    expect(fake.jobs).toEqual([]);
    const unpausedAt = Date.now();
    await d.redis.call('CLIENT', 'UNPAUSE');
    await waitFor(`${jobs} jobs at the fake worker`, () => fake.jobs.length === jobs, 20_000);

    expect(found.map((f) => f.seq).sort((a, b) => a - b)).toEqual([...Array(jobs).keys()]);
    for (const f of found) {
      expect(f.entry, `job ${f.seq} in the inflight hash when received`).toBe(f.expected);
      expect(f.lease, `job ${f.seq} has a lease when received`).not.toBeNull();
    }
    // Dispatch began while writes were paused, and no job arrived before the pause was over.
    expect(Math.min(...fake.jobs.map((job) => job.dispatchedAt))).toBeLessThan(unpausedAt);
    expect(Math.min(...fake.jobs.map((job) => job.receivedAt))).toBeGreaterThanOrEqual(unpausedAt);
    expect(new Set(fake.jobs.map((job) => job.attempt))).toEqual(new Set([1]));

    // The fake worker does its jobs; the batch completes like any other.
    const pusher = cleanup.socket(new ResultsPusher(d.stack.endpoints.resultsConnect, 'echo', 'fake-wal'));
    await pusher.send(fake.jobs.map((job) => okResult(job, (job.payload as { i: number }).i)));
    const summary = await d.done(batch);
    expect(summary.answer).toEqual({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(await d.redis.hlen(keys.inflight)).toBe(0);
    expect(await d.redis.zcard(keys.leases)).toBe(0);
    expect(await d.redis.exists(keys.packs)).toBe(0);
    expect(await d.redis.hlen(keys.results)).toBe(jobs);
    expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_dispatched_total')).toBe(jobs);
  });

  it('lease expiry: a job whose first attempt hangs comes back with attempt 2 and completes', async () => {
    const log = join(scratch, 'lease.log');
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: durablePipeline,
      workers: 1,
      // The hanging attempts hold two of the four slots for good; a short drain lets cleanup go.
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4', JOBPIPE_DRAIN_TIMEOUT_MS: '500' }),
      ventilatorEnv: { JOBPIPE_LEASE_MS: '2000' },
    });
    const batch = 'lease';
    const jobs = 12;
    const hang = [3, 7];
    await d.submit({ jobs, hang, log }, batch);
    const summary = await d.done(batch);

    const answer = summary.answer as { count: number; sum: number; failed: number; attempts: Record<string, number> };
    expect(answer).toMatchObject({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(summary.failed).toBe(0);
    for (const seq of hang) {
      // Recorded from its second attempt; its first started and never finished. (A third is
      // possible only if the second took longer than its own lease: a very slow machine.)
      expect(answer.attempts[seq], `attempt recorded for job ${seq}`).toBeGreaterThanOrEqual(2);
      const runs = readExecutions(log).filter((e) => e.seq === seq);
      expect(runs.map((e) => e.attempt).slice(0, 2)).toEqual([1, 2]);
    }
    expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_redelivered_total')).toBeGreaterThanOrEqual(hang.length);
    expect(await d.ledger.listDead(batch)).toEqual([]);
    expect(await d.redis.hlen(d.ledger.keys.batch(batch).inflight)).toBe(0);
    expect(await d.redis.hlen(d.ledger.keys.batch(batch).results)).toBe(jobs);
  });

  it('a SIGKILLed worker: the jobs it held come back with their attempt raised and complete on another worker', async () => {
    const log = join(scratch, 'kill.log');
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: durablePipeline,
      workers: 1,
      // Quicker heartbeats: the ventilator notices the dead worker after ~1.5 s. The lease is
      // long, so only that notice (not a lease running out) can bring the jobs back in time.
      env: { JOBPIPE_HEARTBEAT_MS: '500' },
      // worker-1 hangs on every job it gets: it finishes none, whatever happens before its death.
      workerEnv: (index): Record<string, string> =>
        index === 0 ? { JOBPIPE_TEST_HANG_ALL: '1', JOBPIPE_CONCURRENCY: '32', JOBPIPE_DRAIN_TIMEOUT_MS: '500' } : {},
      ventilatorEnv: { JOBPIPE_LEASE_MS: '120000', JOBPIPE_MAX_ATTEMPTS: '20' },
    });
    const batch = 'kill';
    const jobs = 6;
    await d.submit({ jobs, log }, batch);
    const victim = d.stack.workers[0]!;
    const started = (pid: number | undefined) =>
      new Set(
        readExecutions(log)
          .filter((e) => e.pid === pid)
          .map((e) => e.seq),
      );
    await waitFor('worker-1 to hold every job', () => started(victim.child.pid).size === jobs, 30_000);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const rescuer = await d.stack.addWorker({ JOBPIPE_CONCURRENCY: '8' });
    await rescuer.ready;

    const summary = await d.done(batch);
    const answer = summary.answer as { count: number; sum: number; attempts: Record<string, number> };
    expect(answer).toMatchObject({ count: jobs, sum: sumTo(jobs) });
    expect(summary.failed).toBe(0);
    // Every job: first delivered to worker-1, recorded from a later attempt by worker-2.
    for (let seq = 0; seq < jobs; seq++) expect(answer.attempts[seq], `attempt recorded for job ${seq}`).toBeGreaterThanOrEqual(2);
    expect(summary.perWorker).toEqual({ 'worker-2': jobs });
    expect(started(rescuer.child.pid).size).toBe(jobs);
    expect(readExecutions(log).filter((e) => e.pid === rescuer.child.pid && e.attempt === 1)).toEqual([]);
    expect(await metric(d.stack.ventilator!, 'jobpipe_jobs_redelivered_total')).toBeGreaterThanOrEqual(jobs);
  });

  it('a duplicate result is counted and dropped: the ledger keeps one result and the counters do not move', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: echoPipeline });
    const batch = 'dup';
    const jobs = 20;
    const keys = d.ledger.keys.batch(batch);
    await d.submit({ jobs, payloadBytes: 60 }, batch);
    const fake = cleanup.socket(new FakeWorker(d.stack.endpoints.jobsConnect, 'fake-dup'));
    await fake.grant(jobs);
    await waitFor(`${jobs} jobs at the fake worker`, () => fake.jobs.length === jobs, 20_000);
    const bySeq = new Map(fake.jobs.map((job) => [job.seq, job]));
    const value = (seq: number) => (bySeq.get(seq)!.payload as { i: number }).i;
    const pusher = cleanup.socket(new ResultsPusher(d.stack.endpoints.resultsConnect, 'echo', 'fake-dup'));
    const rogue = cleanup.socket(new ResultsPusher(d.stack.endpoints.resultsConnect, 'echo', 'dup-sender'));
    const duplicates = () => metric(d.stack.sink, 'jobpipe_duplicate_results_total', { pipeline: 'echo' });

    // All but the last job recorded: the batch is still running.
    const last = jobs - 1;
    await pusher.send(fake.jobs.filter((job) => job.seq !== last).map((job) => okResult(job, value(job.seq))));
    await waitFor('19 results recorded', async () => (await d.ledger.batchInfo(batch))?.recorded === jobs - 1);
    const snapshot = async () => ({
      meta: await d.redis.hgetall(keys.meta),
      results: await d.redis.hgetall(keys.results),
      workers: await d.redis.hgetall(keys.workers),
      inflight: await d.redis.hkeys(keys.inflight),
    });
    const before = await snapshot();
    expect(before.meta.status).toBe('running');
    expect(before.inflight).toEqual([String(last)]);

    // A twin of job 0 from a redelivery, with another value.
    await rogue.send([okResult({ ...bySeq.get(0)!, attempt: 2 }, 1000)]);
    await waitFor('the duplicate to be counted', async () => (await duplicates()) === 1);
    expect(await snapshot()).toEqual(before);
    expect(await d.redis.hget(keys.results, '0')).toBe('0');

    // The last result completes the batch; the duplicate's value was never folded in.
    await pusher.send([okResult(bySeq.get(last)!, value(last))]);
    const summary = await d.done(batch);
    expect(summary.answer).toEqual({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(summary.duplicates).toBe(1);
    expect(summary.perWorker).toEqual({ 'fake-dup': jobs });

    // A late duplicate, after the batch is done: counted and dropped too.
    const done = await snapshot();
    await rogue.send([okResult({ ...bySeq.get(5)!, attempt: 3 }, -1)]);
    await waitFor('the late duplicate to be counted', async () => (await duplicates()) === 2);
    expect(await snapshot()).toEqual(done);
    expect(await d.redis.hlen(keys.results)).toBe(jobs);
    expect(await metric(d.stack.sink, 'jobpipe_jobs_completed_total', { worker: 'dup-sender' })).toBe(0);
    expect(await metric(d.stack.sink, 'jobpipe_jobs_completed_total', { worker: 'fake-dup' })).toBe(jobs);
  });

  // The sink folds a result into the batch's answer when its record call answers "recorded". When
  // the connection drops after Redis ran the call but before its reply arrived, ioredis sends the
  // call again (autoResendUnfulfilledCommands): the second run must answer what the first did, or
  // the result is taken for a duplicate and left out of the answer. (Found by this test; fixed by
  // the per-call idempotency key of libs/ledger/commands/record-9.lua.)
  it('a record call whose reply is lost and is sent again still counts once and is folded into the answer', async () => {
    // The reply of a record call that recorded a pack: [outcomes "RR..", recorded, dead, total, status, startedAt, cancelled, cancelledAt].
    const dropper = await ReplyDropper.start(suite.server.port, /\*8\r\n\$\d+\r\nR+\r\n/);
    cleanup.add('proxy', () => dropper.close());
    const d = await startDurable(cleanup, { server: suite.server, rolesRedisUrl: dropper.url, pipeline: echoPipeline, workers: 1 });
    const batch = 'lost-reply';
    const jobs = 200;
    await d.submit({ jobs, workMs: 2 }, batch);
    const summary = await d.done(batch);
    expect(await d.redis.hlen(d.ledger.keys.batch(batch).results)).toBe(jobs);
    expect(dropper.dropped).toBe(1);
    expect(summary.answer).toEqual({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(summary.duplicates).toBe(0);
  });
  it('a batch completed by a round of record calls is answered with every result of that round', async () => {
    const d = await startDurable(cleanup, { server: suite.server, pipeline: echoPipeline });
    const batch = 'round';
    // More results from one worker than one record call takes (2,000): that worker's calls and
    // the other's must not interleave in Redis, or the first one's reply would say "complete"
    // before the other worker's results were folded in.
    const jobs = 2510;
    await d.submit({ jobs, payloadBytes: 20 }, batch);
    await waitFor('the split to be done', async () => (await d.ledger.batchInfo(batch))?.total === jobs);
    const fake = cleanup.socket(new FakeWorker(d.stack.endpoints.jobsConnect, 'fake-round'));
    await fake.grant(jobs);
    await waitFor(`${jobs} jobs at the fake worker`, () => fake.jobs.length === jobs, 20_000);
    const bySeq = [...fake.jobs].sort((a, b) => a.seq - b.seq);
    // Its reaper's script calls would be held by the pause below too: only the sink's may be.
    await d.stack.ventilator!.stop();
    const a = cleanup.socket(new ResultsPusher(d.stack.endpoints.resultsConnect, 'echo', 'worker-a'));
    const b = cleanup.socket(new ResultsPusher(d.stack.endpoints.resultsConnect, 'echo', 'worker-b'));
    // One result goes first, and its recording is held by a pause of Redis's writes...
    await d.redis.call('CLIENT', 'PAUSE', '20000', 'WRITE');
    cleanup.add('unpause', () => d.redis.call('CLIENT', 'UNPAUSE').catch(() => {}));
    await b.send([okResult(bySeq[0]!, 0)]);
    await heldByPause(d.redis, 'the record call', /\bcmd=(eval|evalsha)\b/);
    // ...so the rest arrive meanwhile and are recorded together, in the next round: worker-a's
    // first (its record calls go out first), then worker-b's.
    await a.send(bySeq.slice(1, 2501).map((job) => okResult(job, job.seq)));
    await sleep(300);
    await b.send(bySeq.slice(2501).map((job) => okResult(job, job.seq)));
    await sleep(300);
    await d.redis.call('CLIENT', 'UNPAUSE');
    const summary = await d.done(batch);
    expect(summary.answer).toEqual({ count: jobs, sum: sumTo(jobs), failed: 0 });
    expect(summary.perWorker).toEqual({ 'worker-a': 2500, 'worker-b': 10 });
  });
});
