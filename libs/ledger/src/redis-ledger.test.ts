import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '@jobpipe/launcher';
import { heldPayload, payloadText, type JobResult } from '@jobpipe/protocol';
import { connectRedis } from './redis-connection.js';
import { RedisLedger } from './redis-ledger.js';
import { recordKeys } from './keys.js';

let server: RedisServer;
let ledger: RedisLedger;
let batchCount = 0;
const newBatch = async () => {
  const batch = `b${++batchCount}`;
  await ledger.beginBatch(batch, 'p', 1000);
  return batch;
};
const ok = (seq: number, value: unknown, attempt = 1): JobResult => ({ batch: '', seq, attempt, dispatchedAt: 0, durationMs: 1, ok: true, value });
const failed = (seq: number, attempt: number, message = 'boom'): JobResult => ({
  batch: '',
  seq,
  attempt,
  dispatchedAt: 0,
  durationMs: 1,
  ok: false,
  error: { name: 'Error', message },
});
const jobs = (...seqs: number[]) => seqs.map((seq) => ({ seq, attempt: 1, payloadJson: JSON.stringify({ n: seq }) }));

beforeAll(async () => {
  server = await RedisServer.start();
  ledger = new RedisLedger(connectRedis(server.url), 'test');
});
afterAll(async () => {
  ledger?.redis.disconnect();
  await server?.stop();
});

describe('RedisLedger', () => {
  it('records each result once: duplicates and unknown jobs are told apart', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1, 2), 5000);
    const first = await ledger.record(batch, 'w1', [ok(0, 'a'), ok(1, 'b')], 0, 100, 2000);
    expect(first).toMatchObject({ outcomes: 'RR', recorded: 2, dead: 0, total: null, status: 'running', startedAt: 1000 });
    const again = await ledger.record(batch, 'w2', [ok(1, 'late'), ok(2, 'c')], 0, 100, 2000);
    expect(again.outcomes).toBe('DR');
    expect(again.recorded).toBe(3);
    const values: Record<number, unknown> = {};
    expect(await ledger.forEachResult(batch, (seq, value) => void (values[seq] = value))).toBe(3);
    expect(values).toEqual({ 0: 'a', 1: 'b', 2: 'c' });
    expect(await ledger.workerCounts(batch)).toEqual({ w1: 2, w2: 1 });
  });

  it('records a success the ledger lost track of while its batch runs, and nothing it cannot place', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1), 5000);
    // Job 5 was never admitted here: as if Redis had lost the write-ahead. Its success counts.
    expect((await ledger.record(batch, 'w', [ok(5, 'found')], 0, 100, 2000)).outcomes).toBe('R');
    // A failure cannot be retried without its payload; a dead letter stays dead.
    expect((await ledger.record(batch, 'w', [failed(6, 1)], 0, 100, 2000)).outcomes).toBe('O');
    expect((await ledger.record(batch, 'w', [failed(0, 1)], 0, 100, 2000)).outcomes).toBe('X');
    expect((await ledger.record(batch, 'w', [ok(0, 'late')], 0, 100, 2000)).outcomes).toBe('O');
    // Beyond the batch's end, or once it is done: not recorded.
    await ledger.endBatch(batch, 6);
    expect((await ledger.record(batch, 'w', [ok(6, 'too far')], 0, 100, 2000)).outcomes).toBe('O');
    expect((await ledger.record(batch, 'w', [ok(1, 'b')], 0, 100, 2000)).outcomes).toBe('R');
  });

  it('retries a failed job after its backoff, then dead-letters it, and retry brings it back', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0), 5000);
    expect((await ledger.record(batch, 'w', [failed(0, 1)], 1, 100, 2000)).outcomes).toBe('T');
    expect((await ledger.takeDue(batch, 10, 5, 9000, 2050)).jobs).toEqual([]); // backoff runs to 2100
    const due = await ledger.takeDue(batch, 10, 5, 9000, 2100);
    // A retry after a failure is not lost: its worker lived to report the failure.
    expect(due.jobs).toEqual([{ seq: 0, attempt: 2, payloadJson: '{"n":0}', lost: false }]);
    expect((await ledger.record(batch, 'w', [failed(0, 1, 'stale')], 1, 100, 2200)).outcomes).toBe('S');
    const dead = await ledger.record(batch, 'w', [failed(0, 2, 'still broken')], 1, 100, 2200);
    expect(dead).toMatchObject({ outcomes: 'X', dead: 1 });
    expect(await ledger.listDead(batch)).toEqual([{ batch, seq: 0, attempts: 2, payload: { n: 0 }, error: { name: 'Error', message: 'still broken' } }]);

    await ledger.endBatch(batch, 1);
    const summary = { batch, pipeline: 'p', jobs: 1, failed: 1, duplicates: 0, wallSeconds: 1, jobsPerSecond: 1, perWorker: {}, answer: null };
    expect(await ledger.complete(batch, 'p', summary)).toBe(true);
    // A resend of the same call (its reply lost) still says it completed the batch; another caller does not.
    expect(await ledger.complete(batch, 'p', summary)).toBe(true);
    expect(await ledger.complete(batch, 'p', { ...summary, wallSeconds: 2 })).toBe(false);
    expect(await ledger.activeBatches('p')).not.toContain(batch);

    expect(await ledger.retryDead(batch, 'p')).toBe(1);
    expect(await ledger.batchInfo(batch)).toMatchObject({ status: 'running', dead: 0, summary: null });
    expect(await ledger.activeBatches('p')).toContain(batch);
    const back = await ledger.takeDue(batch, 10, 5, 9000, 3000);
    expect(back.jobs).toEqual([{ seq: 0, attempt: 1, payloadJson: '{"n":0}', lost: false }]);
    await ledger.admit(batch, back.jobs, 9000);
    expect((await ledger.record(batch, 'w', [ok(0, 'fixed')], 1, 100, 3100)).outcomes).toBe('R');
    expect(await ledger.complete(batch, 'p', { ...summary, failed: 0 })).toBe(true);
    expect(await ledger.listDead(batch)).toEqual([]);
  });

  it('gives back large payloads as they were written ahead, multi-byte characters and all, by either write-ahead', async () => {
    const batch = await newBatch();
    const large = (seq: number) => ({ seq, attempt: 1, payloadJson: JSON.stringify({ seq, text: `é€😀${'x'.repeat(20_000)}` }) });
    // Consecutive fresh jobs go in one transaction; the others through the script that checks each.
    // As a split holds them (bytes), or as text.
    await ledger.admit(batch, [{ ...large(0), payloadJson: heldPayload(large(0).payloadJson) }, large(1)], 5000, false);
    await ledger.admit(batch, [large(5), { seq: 7, attempt: 1, payloadJson: '{"small":true}' }], 5000);
    const due = await ledger.takeDue(batch, 10, 5, 9000, 5000);
    // Larger ones come back as bytes (heldPayload), the text they were.
    expect(due.jobs.map(({ seq, attempt, payloadJson }) => ({ seq, attempt, payloadJson: payloadText(payloadJson) }))).toEqual([
      { ...large(0), attempt: 2 },
      { ...large(1), attempt: 2 },
      { ...large(5), attempt: 2 },
      { seq: 7, attempt: 2, payloadJson: '{"small":true}' },
    ]);
  });

  it('sends expired leases again with the attempt raised, and dead-letters them at max attempts', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1), 5000);
    expect((await ledger.takeDue(batch, 10, 2, 9000, 4999)).jobs).toEqual([]);
    const first = await ledger.takeDue(batch, 10, 2, 9000, 5000);
    expect(first.jobs.map((j) => [j.seq, j.attempt, j.lost])).toEqual([
      [0, 2, true],
      [1, 2, true],
    ]);
    // Each keeps why as its last error.
    expect(JSON.parse((await ledger.redis.hget(ledger.keys.batch(batch).errors, '0'))!)).toEqual({
      name: 'LeaseExpired',
      message: 'no result within the lease of attempt 1',
    });
    // Reserved until 9000: not taken twice while waiting to be sent.
    expect((await ledger.takeDue(batch, 10, 2, 9500, 8000)).jobs).toEqual([]);
    await ledger.expireNow(batch, [1], { name: 'WorkerLost', message: 'no result: worker w went away' });
    const second = await ledger.takeDue(batch, 10, 2, 9500, 8000);
    expect(second).toEqual({ jobs: [], deadLettered: 1 });
    expect((await ledger.listDead(batch))[0]).toMatchObject({ seq: 1, attempts: 2, error: { name: 'WorkerLost', message: 'no result: worker w went away' } });
    expect(await ledger.batchInfo(batch)).toMatchObject({ dead: 1, recorded: 0 });
  });

  it('answers a retry of the same pack of results with what its calls did, over several calls', async () => {
    const batch = await newBatch();
    const results = Array.from({ length: 2500 }, (_, seq) => ok(seq, seq));
    const first = await ledger.record(batch, 'w', results, 0, 100, 2000);
    expect(first.outcomes).toBe('R'.repeat(2500));
    // The caller saw a failure and sends the same results again: they are not duplicates of themselves.
    expect(await ledger.record(batch, 'w', results, 0, 100, 2100)).toMatchObject({ outcomes: 'R'.repeat(2500), recorded: 2500 });
    // The same jobs in another pack are.
    expect((await ledger.record(batch, 'w', [...results], 0, 100, 2200)).outcomes).toBe('D'.repeat(2500));
  });

  it('leases a fresh pack of consecutive jobs as one; when it runs out, only jobs still under it are due', async () => {
    const batch = await newBatch();
    const k = ledger.keys.batch(batch);
    expect(await ledger.admit(batch, jobs(0, 1, 2, 3), 5000, false)).toEqual([]);
    expect(await ledger.redis.zcard(k.leases)).toBe(0);
    expect(await ledger.redis.zrange(k.packs, '0', '-1', 'WITHSCORES')).toEqual(['0:4', '5000']);
    expect(await ledger.redis.hget(k.inflight, '3')).toBe('1|{"n":3}');
    // Job 1 is recorded, job 2 failed and waits for its retry, job 3's worker went away.
    expect((await ledger.record(batch, 'w', [ok(1, 'b'), failed(2, 1)], 1, 100, 2000)).outcomes).toBe('RT');
    await ledger.expireNow(batch, [3]);
    // Jobs with a lease of their own follow it; job 0 waits for its pack's lease.
    expect((await ledger.takeDue(batch, 10, 5, 9000, 4999)).jobs.map((j) => [j.seq, j.attempt, j.lost])).toEqual([
      [3, 2, true],
      [2, 2, false],
    ]);
    expect((await ledger.takeDue(batch, 10, 5, 9000, 5000)).jobs.map((j) => [j.seq, j.attempt, j.lost])).toEqual([[0, 2, true]]);
    expect(await ledger.redis.zcard(k.packs)).toBe(0);
    // Seqs with gaps (a resumed split skips some) get a lease each.
    await ledger.admit(batch, jobs(5, 7), 6000, false);
    expect(await ledger.redis.zscore(k.leases, '7')).toBe('6000');
    expect(await ledger.redis.zcard(k.packs)).toBe(0);
  });

  it('expires many due packs in one reaper pass, a few packs a call', async () => {
    const batch = await newBatch();
    const k = ledger.keys.batch(batch);
    for (let pack = 0; pack < 45; pack++) await ledger.admit(batch, jobs(pack * 2, pack * 2 + 1), 1000 + pack, false);
    await ledger.record(
      batch,
      'w',
      Array.from({ length: 89 }, (_, seq) => ok(seq, seq)),
      0,
      100,
      500,
    );
    expect((await ledger.takeDue(batch, 10, 5, 9000, 2000)).jobs.map((j) => j.seq)).toEqual([89]);
    expect(await ledger.redis.zcard(k.packs)).toBe(0);
  });

  it('drops what is left of pack leases once the batch is done', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1), 5000, false);
    await ledger.record(batch, 'w', [ok(0, 'a'), ok(1, 'b')], 0, 100, 2000);
    await ledger.endBatch(batch, 2);
    expect(
      await ledger.complete(batch, 'p', {
        batch,
        pipeline: 'p',
        jobs: 2,
        failed: 0,
        duplicates: 0,
        wallSeconds: 1,
        jobsPerSecond: 2,
        perWorker: {},
        answer: null,
      }),
    ).toBe(true);
    expect(await ledger.redis.exists(ledger.keys.batch(batch).packs)).toBe(0);
  });

  it('tells lost jobs (worker gone, lease out) from retried failures, and release leaves done jobs alone', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1, 2), 5000);
    const k = ledger.keys.batch(batch);
    // Job 0 failed and waits for its retry; job 1 is recorded; then their worker goes away.
    expect((await ledger.record(batch, 'w', [failed(0, 1), ok(1, 'done')], 1, 100, 2000)).outcomes).toBe('TR');
    await ledger.expireNow(batch, [0, 1, 2], { name: 'WorkerLost', message: 'no result: worker w went away' });
    expect(await ledger.redis.hexists(k.errors, '1')).toBe(0);
    expect(await ledger.redis.zscore(k.leases, '1')).toBeNull();
    const due = await ledger.takeDue(batch, 10, 5, 9000, 2000);
    // The release is the last word on job 0 too: its retry was held by the worker that went away.
    expect(due.jobs.map((j) => [j.seq, j.attempt, j.lost])).toEqual([
      [0, 2, true],
      [2, 2, true],
    ]);
    // The retried job fails again: a plain retry once more.
    await ledger.admit(batch, due.jobs, 9000);
    expect((await ledger.record(batch, 'w', [failed(0, 2)], 2, 100, 3000)).outcomes).toBe('T');
    expect((await ledger.takeDue(batch, 10, 5, 9000, 3300)).jobs.map((j) => [j.seq, j.lost])).toEqual([[0, false]]);
  });

  it('extends the reservation of a job waiting to be sent again, and no other lease', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1), 2000);
    expect((await ledger.takeDue(batch, 10, 5, 3000, 2500)).jobs.map((j) => j.attempt)).toEqual([2, 2]);
    expect((await ledger.record(batch, 'w', [ok(1, 'late')], 0, 100, 2600)).outcomes).toBe('R');
    await ledger.extendLeases(batch, [0, 1], 6000);
    // Still reserved at 4000: not taken again, its attempt not raised a second time.
    expect((await ledger.takeDue(batch, 10, 5, 9000, 4000)).jobs).toEqual([]);
    expect(await ledger.redis.zscore(ledger.keys.batch(batch).leases, '1')).toBeNull();
    expect((await ledger.takeDue(batch, 10, 5, 9000, 6000)).jobs.map((j) => [j.seq, j.attempt])).toEqual([[0, 3]]);
  });

  it("cuts short the leases that run out before a bound (Redis's past), pack leases too, and leaves later ones", async () => {
    const batch = await newBatch();
    // A pack written ahead long ago (its lease runs out at 2000), then a job sent just now (90,000).
    await ledger.admit(batch, jobs(0, 1), 2000, false);
    await ledger.admit(batch, jobs(5), 90_000);
    expect(await ledger.cutLeasesBefore(batch, 60_000, 1500)).toBe(1);
    // Due at 1500, not 2000: the pack's jobs come back at once; job 5 stays out.
    expect((await ledger.takeDue(batch, 10, 5, 9000, 1600)).jobs.map((j) => j.seq)).toEqual([0, 1]);
    expect(await ledger.redis.zscore(ledger.keys.batch(batch).leases, '5')).toBe('90000');
  });

  it('records the success of a job missing from flight in a batch (Redis lost its write-ahead), not in a bucket of single jobs', async () => {
    const batch = await newBatch();
    expect((await ledger.record(batch, 'w', [ok(7, 'lost write-ahead')], 0, 100, 1000)).outcomes).toBe('R');
    const bucket = `p~${(1000 + batchCount).toString(16)}-1`;
    await ledger.beginBatch(bucket, 'p', 1000);
    await ledger.admit(bucket, jobs(0), 5000);
    // Seq 1 of the bucket is no job Redis knows: a late result of a job it lost, whose seq a new job may get.
    expect((await ledger.record(bucket, 'w', [ok(0, 'mine'), ok(1, 'lost job')], 0, 100, 1000)).outcomes).toBe('RO');
  });

  it('accounts for a batch: its status, its total, and its jobs in flight, recorded, dead or cancelled', async () => {
    const batch = await newBatch();
    expect(await ledger.account(batch)).toEqual({ status: 'running', total: null, accounted: 0, cancelled: false });
    await ledger.admit(batch, jobs(0, 1, 2), 2000);
    await ledger.record(batch, 'w', [ok(0, 'a')], 0, 100, 1000);
    await ledger.endBatch(batch, 4);
    // Seq 3 is in no hash: what BatchRepair looks for.
    expect(await ledger.account(batch)).toEqual({ status: 'running', total: 4, accounted: 3, cancelled: false });
    expect(await ledger.account('never-begun')).toBeUndefined();
  });

  it('never puts a job back in flight once it has a result or is a dead letter', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1), 2000);
    // The leases ran out: the reaper takes both for redelivery (attempt 2)...
    const due = await ledger.takeDue(batch, 10, 2, 9000, 2500);
    expect(due.jobs.map((job) => job.seq)).toEqual([0, 1]);
    // ...then the late result of job 0 is recorded and job 1 runs out of attempts before they leave.
    expect((await ledger.record(batch, 'w', [ok(0, 'late')], 0, 100, 2600)).outcomes).toBe('R');
    await ledger.expireNow(batch, [1]);
    expect(await ledger.takeDue(batch, 10, 2, 9000, 2700)).toEqual({ jobs: [], deadLettered: 1 });
    // Both are skipped, and the ventilator is told so: it must not send them.
    expect(await ledger.admit(batch, due.jobs, 9000)).toEqual([0, 1]);
    const k = ledger.keys.batch(batch);
    expect(await ledger.redis.hlen(k.inflight)).toBe(0);
    expect(await ledger.redis.zcard(k.leases)).toBe(0);
    expect(await ledger.batchInfo(batch)).toMatchObject({ recorded: 1, dead: 1 });
  });

  it('finds which jobs of a resumed split were never dispatched', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1, 2, 3), 5000);
    await ledger.record(batch, 'w', [ok(1, 1)], 0, 100);
    await ledger.record(batch, 'w', [failed(2, 1)], 0, 100);
    expect(await ledger.filterNew(batch, [0, 1, 2, 3, 4, 5])).toEqual([4, 5]);
  });

  it('answers a resent record call as the first run did, so its results are still folded', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1), 5000);
    const k = ledger.keys.batch(batch);
    // What a client sends again when the connection dropped after Redis ran the call.
    const args = [...recordKeys(k, `${k.calls}test-1`), 'w', 0, 2000, 100, 60_000, JSON.stringify(['0', 1, 1, '"a"', '1', 1, 1, '"b"'])];
    const first = await ledger.redis.jobpipeRecord(...args);
    const resent = await ledger.redis.jobpipeRecord(...args);
    expect(first[0]).toBe('RR');
    expect(resent[0]).toBe('RR');
    expect(resent[1]).toBe('2'); // counted once
    // A different call with the same results is a real duplicate.
    const other = await ledger.redis.jobpipeRecord(...args.map((arg) => (arg === `${k.calls}test-1` ? `${k.calls}test-2` : arg)));
    expect(other[0]).toBe('DD');
  });

  it('deletes the keys of answered record calls 500 at a time, so they do not pile up for their 10 minutes', async () => {
    const own = new RedisLedger(connectRedis(server.url), 'forget');
    try {
      await own.beginBatch('b', 'p', 1000);
      const k = own.keys.batch('b');
      const callKeys = async () => (await own.redis.keys(`${k.calls}*`)).length;
      for (let seq = 0; seq < 499; seq++) await own.record('b', 'w', [ok(seq, seq)], 0, 100);
      expect(await callKeys()).toBe(499);
      for (let seq = 499; seq < 600; seq++) await own.record('b', 'w', [ok(seq, seq)], 0, 100);
      // The 500th answer deleted the first 500 keys; the last 100 wait for the next 400 calls.
      expect(await callKeys()).toBe(100);
      expect((await own.batchInfo('b'))!.recorded).toBe(600);
    } finally {
      own.redis.disconnect();
    }
  });

  it('keeps every value exactly as JSON wrote it: digits, escapes, any Unicode, a missing value', async () => {
    const batch = await newBatch();
    const values = [
      { n: 0.1 + 0.2, big: 2 ** 53 - 1, tiny: 5e-324, neg: -1.7976931348623157e308 },
      'quotes " and \\ backslashes \n newlines \u0000 nul',
      { text: 'ünïcödé ✓ 😀', lone: '\ud800', tab: '\t' },
      [null, true, false, [], {}],
      undefined,
    ];
    await ledger.admit(batch, jobs(0, 1, 2, 3, 4), 5000);
    expect(
      (
        await ledger.record(
          batch,
          'w',
          values.map((value, seq) => ok(seq, value)),
          0,
          100,
        )
      ).outcomes,
    ).toBe('RRRRR');
    const stored = new Map<number, unknown>();
    await ledger.forEachResult(batch, (seq, value) => void stored.set(seq, value));
    expect([...stored.keys()].sort()).toEqual([0, 1, 2, 3, 4]);
    for (let seq = 0; seq < 4; seq++) expect(stored.get(seq)).toEqual(values[seq]);
    expect(stored.get(4)).toBeNull();
  });

  it('gives a payload back exactly as the split wrote it', async () => {
    const batch = await newBatch();
    const payloads = [JSON.stringify({ n: 0.1 + 0.2, big: 2 ** 53 - 1 }), JSON.stringify('quotes " \\ \n \u0000 ünï 😀 \ud800'), 'null'];
    await ledger.admit(
      batch,
      payloads.map((payloadJson, seq) => ({ seq, attempt: 1, payloadJson })),
      5000,
    );
    await ledger.expireNow(batch, [0, 1, 2]);
    const { jobs: due } = await ledger.takeDue(batch, 10, 5, 9000, 6000);
    expect(due.map((job) => job.payloadJson)).toEqual(payloads);
  });

  it('cancels jobs one by one: never admitted, taken or recorded after, and counted toward completion', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1, 2, 3), 5000);
    await ledger.record(batch, 'w', [ok(0, 'a')], 0, 100, 2000);
    await ledger.record(batch, 'w', [failed(3, 1)], 0, 100, 2000);
    // 4 is not in flight and the batch's size is unknown: no such job yet.
    expect(await ledger.cancel(batch, 'p', [0, 1, 3, 4], undefined, 3000)).toEqual({ codes: 'RCXU', cancelled: 1 });
    expect(await ledger.cancel(batch, 'p', [1], undefined, 3000)).toEqual({ codes: 'A', cancelled: 0 });
    // Its result, late or not, is not recorded; the write-ahead of a redelivery skips it; no lease brings it back.
    expect((await ledger.record(batch, 'w', [ok(1, 'late')], 0, 100, 4000)).outcomes).toBe('C');
    expect(await ledger.admit(batch, jobs(1), 9000)).toEqual([1]);
    expect((await ledger.takeDue(batch, 10, 5, 20_000, 10_000)).jobs.map((job) => job.seq)).toEqual([2]);
    await ledger.endBatch(batch, 4);
    // Past the end of a batch of known size: unknown; below it and not yet sent: cancellable.
    expect((await ledger.cancel(batch, 'p', [4, 2], undefined, 3000)).codes).toBe('UC');
    const info = (await ledger.batchInfo(batch))!;
    expect(info).toMatchObject({ recorded: 1, dead: 1, cancelled: 2, cancelledAt: null });
    const summary = { batch, pipeline: 'p', jobs: 4, failed: 1, duplicates: 0, wallSeconds: 1, jobsPerSecond: 4, perWorker: {}, answer: null, cancelled: 2 };
    expect(await ledger.complete(batch, 'p', summary, 11_000)).toBe(true);
  });

  it('cancels a whole batch: what is out is dropped, nothing more is recorded, and it completes with the rest cancelled', async () => {
    const batch = await newBatch();
    await ledger.admit(batch, jobs(0, 1, 2), 5000);
    await ledger.record(batch, 'w', [ok(0, 'a')], 0, 100, 2000);
    expect(await ledger.cancel(batch, 'p', undefined, undefined, 3000)).toEqual({ codes: 'C', cancelled: 2 });
    expect(await ledger.cancel(batch, 'p', undefined, undefined, 3100)).toEqual({ codes: 'A', cancelled: 0 });
    expect((await ledger.record(batch, 'w', [ok(1, 'b'), failed(2, 1)], 0, 100, 4000)).outcomes).toBe('CC');
    expect(await ledger.admit(batch, jobs(5), 9000)).toEqual([5]);
    expect((await ledger.takeDue(batch, 10, 5, 20_000, 10_000)).jobs).toEqual([]);
    expect(await ledger.retryDead(batch, 'p')).toBe(0);
    // Its split was over at 10 jobs: the 9 not recorded are cancelled, whatever was out.
    await ledger.endBatch(batch, 10);
    const summary = { batch, pipeline: 'p', jobs: 10, failed: 0, duplicates: 0, wallSeconds: 1, jobsPerSecond: 10, perWorker: {}, answer: null, cancelled: 9 };
    expect(await ledger.complete(batch, 'p', summary, 11_000)).toBe(true);
    expect(await ledger.batchInfo(batch)).toMatchObject({ status: 'done', recorded: 1, cancelled: 9, cancelledAt: 3000 });
    expect(await ledger.cancel(batch, 'p', undefined, undefined, 12_000)).toEqual({ codes: 'D', cancelled: 0 });
  });

  it('cancels a batch not begun yet, so that it is listed and completes as cancelled; refuses one of another pipeline', async () => {
    expect(await ledger.cancel('queued', 'p', undefined, undefined, 3000)).toEqual({ codes: 'C', cancelled: 0 });
    expect(await ledger.batchInfo('queued')).toMatchObject({ pipeline: 'p', status: 'running', cancelledAt: 3000, total: null });
    expect(await ledger.activeBatches('p')).toContain('queued');
    await expect(ledger.cancel('queued', 'other')).rejects.toThrow(/WRONG_PIPELINE/);
  });

  it('refuses a batch id that another pipeline owns', async () => {
    const batch = await newBatch();
    await expect(ledger.beginBatch(batch, 'other')).rejects.toThrow(/belongs to pipeline p/);
  });
});
