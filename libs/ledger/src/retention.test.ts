import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '@jobpipe/launcher';
import type { BatchSummary, JobResult } from '@jobpipe/protocol';
import { connectRedis } from './redis-connection.js';
import { RedisLedger, type ResultsPage } from './redis-ledger.js';
import { RedisResultLedger } from './redis-result-ledger.js';

// Retention in Redis: what a done batch keeps, for how long, and what takes it away again.
let server: RedisServer;
let redis: Redis;
let ledger: RedisLedger;
let batchCount = 0;

beforeAll(async () => {
  server = await RedisServer.start({ appendOnly: false });
  redis = connectRedis(server.url);
  ledger = new RedisLedger(redis, 'ret');
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const ok = (seq: number, value: unknown): JobResult => ({ batch: '', seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value });
const failed = (seq: number): JobResult => ({
  batch: '',
  seq,
  attempt: 1,
  dispatchedAt: 0,
  durationMs: 1,
  ok: false,
  error: { name: 'Error', message: 'boom' },
});
const jobs = (...seqs: number[]) => seqs.map((seq) => ({ seq, attempt: 1, payloadJson: JSON.stringify({ n: seq }) }));
const summaryOf = (batch: string, failures = 0): BatchSummary => ({
  batch,
  pipeline: 'p',
  jobs: 3,
  failed: failures,
  duplicates: 0,
  wallSeconds: 1,
  jobsPerSecond: 3,
  perWorker: {},
  answer: null,
});
const HOUR = 3_600_000;

/** A batch of 3 jobs, all recorded (job 2 a dead letter when `dead`), ready to complete. */
async function finishedBatch(dead = false, submitted?: object): Promise<string> {
  const batch = `r${++batchCount}`;
  const k = ledger.keys.batch(batch);
  if (submitted) await redis.set(k.submitted, JSON.stringify(submitted));
  await ledger.beginBatch(batch, 'p', 1000);
  await ledger.admit(batch, jobs(0, 1, 2), 5000);
  await ledger.record(batch, 'w', [ok(0, 'a'), ok(1, { b: 1 }), dead ? failed(2) : ok(2, 3)], 0, 100, 2000);
  await ledger.endBatch(batch, 3);
  return batch;
}

/** Every key of the batch (SCAN, its hash tag), with its time to live in ms. */
async function keysWithTtl(batch: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `ret:*{${batch}}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) found[key] = await redis.pttl(key);
  } while (cursor !== '0');
  return found;
}

const within = (ms: number, expected: number) => ms > expected - 5000 && ms <= expected;

describe('retention', () => {
  it('gives every key of a done batch its retention, and lists the batch as expiring then; record call keys go at once', async () => {
    const batch = await finishedBatch(false, { at: 1, note: 'a submission without a retention of its own' });
    const before = await keysWithTtl(batch);
    expect(Object.keys(before).some((key) => key.includes(':call:'))).toBe(true);
    const now = Date.now();
    expect(await ledger.complete(batch, 'p', summaryOf(batch), now, { retentionMs: 2 * HOUR, deadRetentionMs: 48 * HOUR })).toBe(true);
    await expect.poll(async () => Object.keys(await keysWithTtl(batch)).filter((key) => key.includes(':call:'))).toEqual([]);
    const after = await keysWithTtl(batch);
    expect(Object.keys(after).sort()).toEqual(['', ':results', ':workers'].map((part) => `ret:batch:{${batch}}${part}`).concat(`ret:submitted:{${batch}}`));
    for (const [key, ttl] of Object.entries(after)) expect(within(ttl, 2 * HOUR), `${key}: ${ttl}`).toBe(true);
    expect(Number(await redis.zscore(ledger.keys.expiring, batch))).toBeGreaterThan(now + 2 * HOUR - 5000);
    // Completing again (a resend, the sink's reconcile) changes nothing.
    expect(await ledger.complete(batch, 'p', summaryOf(batch), Date.now(), { retentionMs: 99, deadRetentionMs: 99 })).toBe(true);
    expect(within(await redis.pttl(ledger.keys.batch(batch).meta), 2 * HOUR)).toBe(true);
  });

  it('keeps a batch with dead letters, every key of it, for the dead retention when that is longer', async () => {
    const batch = await finishedBatch(true);
    expect(await ledger.complete(batch, 'p', summaryOf(batch, 1), Date.now(), { retentionMs: HOUR, deadRetentionMs: 48 * HOUR })).toBe(true);
    const ttls = await keysWithTtl(batch);
    expect(
      Object.keys(ttls)
        .map((key) => key.replace(/^.*\}/, ''))
        .sort(),
    ).toEqual(['', ':dead', ':errors', ':results', ':workers']);
    for (const ttl of Object.values(ttls)) expect(within(ttl, 48 * HOUR)).toBe(true);

    const shorter = await finishedBatch(true);
    await ledger.complete(shorter, 'p', summaryOf(shorter, 1), Date.now(), { retentionMs: 48 * HOUR, deadRetentionMs: HOUR });
    expect(within(await redis.pttl(ledger.keys.batch(shorter).dead), 48 * HOUR)).toBe(true);
  });

  it("takes a submission's own retention over the sink's, and 0 as forever", async () => {
    const own = await finishedBatch(false, { at: 1, retentionMs: 3 * HOUR });
    await ledger.complete(own, 'p', summaryOf(own), Date.now(), { retentionMs: HOUR, deadRetentionMs: HOUR });
    expect(within(await redis.pttl(ledger.keys.batch(own).results), 3 * HOUR)).toBe(true);

    const forever = await finishedBatch(false);
    await ledger.complete(forever, 'p', summaryOf(forever), Date.now(), { retentionMs: 0, deadRetentionMs: HOUR });
    expect(Object.values(await keysWithTtl(forever)).every((ttl) => ttl === -1)).toBe(true);
    expect(await redis.zscore(ledger.keys.expiring, forever)).toBeNull();

    const deadForever = await finishedBatch(true, { at: 1, deadRetentionMs: 0 });
    await ledger.complete(deadForever, 'p', summaryOf(deadForever, 1), Date.now(), { retentionMs: HOUR, deadRetentionMs: HOUR });
    expect(await redis.pttl(ledger.keys.batch(deadForever).dead)).toBe(-1);

    // An older client's claim (the time alone): the sink's retention.
    const old = await finishedBatch(false);
    await redis.set(ledger.keys.batch(old).submitted, String(Date.now()));
    await ledger.complete(old, 'p', summaryOf(old), Date.now(), { retentionMs: HOUR, deadRetentionMs: 0 });
    expect(within(await redis.pttl(ledger.keys.batch(old).submitted), HOUR)).toBe(true);
  });

  it('a dead-letter retry keeps every key of the batch until it is done again, results included', async () => {
    const batch = await finishedBatch(true, { at: 1 });
    await ledger.complete(batch, 'p', summaryOf(batch, 1), Date.now(), { retentionMs: HOUR, deadRetentionMs: 2 * HOUR });
    expect(await ledger.retryDead(batch, 'p')).toBe(1);
    expect(Object.values(await keysWithTtl(batch)).every((ttl) => ttl === -1)).toBe(true);
    expect(await redis.zscore(ledger.keys.expiring, batch)).toBeNull();
    expect(await ledger.batchInfo(batch)).toMatchObject({ status: 'running', recorded: 2, dead: 0 });
    // Done again: no dead letters now, so the plain retention.
    const back = await ledger.takeDue(batch, 10, 5, 9000, Date.now());
    await ledger.admit(batch, back.jobs, 9000);
    await ledger.record(batch, 'w', [ok(2, 'fixed')], 0, 100, 3000);
    expect(await ledger.complete(batch, 'p', summaryOf(batch), Date.now(), { retentionMs: HOUR, deadRetentionMs: 2 * HOUR })).toBe(true);
    for (const ttl of Object.values(await keysWithTtl(batch))) expect(within(ttl, HOUR)).toBe(true);
    const values: Record<number, unknown> = {};
    await ledger.forEachResult(batch, (seq, value) => void (values[seq] = value));
    expect(values).toEqual({ 0: 'a', 1: { b: 1 }, 2: 'fixed' });
  });

  it('trims batches whose keys are gone from the list of batches, and only those, reading only the batches due', async () => {
    const gone = await finishedBatch();
    const retried = await finishedBatch(true);
    const later = await finishedBatch();
    const now = Date.now();
    for (const batch of [gone, retried, later]) await ledger.complete(batch, 'p', summaryOf(batch), now, { retentionMs: 100, deadRetentionMs: 100 });
    // A retry whose removal from `expiring` was lost (a crash): still running, so still listed.
    await ledger.retryDead(retried, 'p');
    await redis.zadd(ledger.keys.expiring, now + 100, retried);
    // Given a later expiry meanwhile (as if completed anew with a longer one).
    await redis.pexpire(ledger.keys.batch(later).meta, HOUR);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await keysWithTtl(gone)).toEqual({});
    expect(await ledger.listBatches(1000)).toEqual(expect.arrayContaining([gone, retried, later]));
    expect(await ledger.trimExpired(Date.now())).toBeGreaterThanOrEqual(1);
    const listed = await ledger.listBatches(1000);
    expect(listed).not.toContain(gone);
    expect(listed).toEqual(expect.arrayContaining([retried, later]));
    expect(await redis.zscore(ledger.keys.expiring, gone)).toBeNull();
    expect(await redis.zscore(ledger.keys.expiring, retried)).toBeNull();
    expect(Number(await redis.zscore(ledger.keys.expiring, later))).toBeGreaterThan(Date.now() + HOUR - 5000);
    expect(await ledger.trimExpired(Date.now())).toBe(0);
  });

  it("the sink's result ledger passes its retention and trims on its reconcile timer", async () => {
    const results = new RedisResultLedger(ledger, { retentionMs: 100, deadRetentionMs: 100, trimEveryMs: 0 });
    const batch = await finishedBatch();
    expect(await results.complete(batch, 'p', summaryOf(batch))).toBe(true);
    expect(await redis.pttl(ledger.keys.batch(batch).meta)).toBeLessThanOrEqual(100);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect
      .poll(async () => {
        await results.activeBatches('p');
        return ledger.listBatches(1000);
      })
      .not.toContain(batch);
    expect(await results.knows(batch)).toBe(false);
  });
});

describe('resultsPage', () => {
  it('pages a batch with a known total by seq, in order, leaving dead letters out', async () => {
    const batch = `p${++batchCount}`;
    await ledger.beginBatch(batch, 'p', 1000);
    await ledger.admit(batch, jobs(0, 1, 2, 3, 4), 5000);
    await ledger.record(batch, 'w', [ok(4, 'e'), ok(0, 'a'), failed(2), ok(3, [3]), ok(1, { b: 1 })], 0, 100, 2000);
    await ledger.endBatch(batch, 5);
    const first = await ledger.resultsPage(batch, '0', 2);
    expect(first).toEqual({
      results: [
        { seq: 0, valueJson: '"a"' },
        { seq: 1, valueJson: '{"b":1}' },
      ],
      next: '2',
    });
    expect(await ledger.resultsPage(batch, '2', 2)).toEqual({ results: [{ seq: 3, valueJson: '[3]' }], next: '4' });
    expect(await ledger.resultsPage(batch, '4', 2)).toEqual({ results: [{ seq: 4, valueJson: '"e"' }], next: null });
    expect(await ledger.resultsPage(batch, '9', 2)).toEqual({ results: [], next: null });
    await expect(ledger.resultsPage(batch, 'x', 2)).rejects.toThrow(TypeError);
  });

  it('pages by HSCAN while the split runs, and knows no batch it never saw or whose keys expired', async () => {
    const batch = `p${++batchCount}`;
    await ledger.beginBatch(batch, 'p', 1000);
    // Several calls: a hash filled by one big HSET can stay a listpack, which HSCAN returns whole.
    const many = Array.from({ length: 600 }, (_, seq) => seq);
    await ledger.admit(batch, jobs(...many), 5000);
    for (let from = 0; from < 600; from += 100) {
      const seqs = many.slice(from, from + 100);
      await ledger.record(
        batch,
        'w',
        seqs.map((seq) => ok(seq, seq * 2)),
        0,
        100,
        2000,
      );
    }
    expect(await redis.object('ENCODING', ledger.keys.batch(batch).results)).toBe('hashtable');
    const seen = new Map<number, string>();
    let cursor: string | null = '0';
    let pages = 0;
    while (cursor !== null) {
      const page: ResultsPage = (await ledger.resultsPage(batch, cursor, 50))!;
      for (const { seq, valueJson } of page.results) seen.set(seq, valueJson);
      cursor = page.next;
      if (cursor !== null) expect(cursor).toMatch(/^scan:\d+$/);
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seen.size).toBe(600);
    expect(seen.get(7)).toBe('14');
    expect(await ledger.resultsPage('never-was', '0', 10)).toBeUndefined();
  });
});
