import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerStores } from './stores.js';
import { BATCH, failed, ok, PIPELINE, redeliveries, Rig } from './rig.js';

// The result side's rules, on every store: exactly-once recording, duplicates, failures and their
// retries, completion. Where a store is documented to differ (see MemoryResultLedger), the rule
// says so.
describe.each(ledgerStores)('result ledger contract: $name', (store) => {
  beforeAll(() => store.setUp());
  afterAll(() => store.tearDown());

  it('records each result once: a second one for the same job, in the same pack or a later one, from any worker, is a duplicate', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2]));
    const first = await rig.report('w1', [ok(0, 'a'), ok(1, 'b'), ok(0, 'a again')]);
    expect(first.outcomes).toBe('RRD');
    expect(first.counts).toMatchObject({ done: 2, failed: 0, total: null, startedAt: 1_000_000 });
    const again = await rig.report('w2', [ok(1, 'late'), ok(2, 'c')]);
    expect(again.outcomes).toBe('DR');
    expect(again.counts).toMatchObject({ done: 3, failed: 0 });
    expect(await rig.results.perWorker(BATCH)).toEqual({ w1: 2, w2: 1 });
  });

  it('a success that arrives while its job is out again is recorded (the first result wins); the later one is a duplicate', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0]));
    rig.advance(rig.leaseMs);
    await rig.send((await rig.reap()).redeliver, 'w2');
    expect((await rig.report('w1', [ok(0, 'first', 1)])).outcomes).toBe('R');
    expect((await rig.report('w2', [ok(0, 'second', 2)])).outcomes).toBe('D');
    expect(await rig.counts()).toMatchObject({ done: 1, failed: 0 });
    rig.advance(10 * rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([]);
  });

  it("a result past the batch's end, or for a batch never begun, is dropped and counts nowhere", async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    await rig.end(2);
    expect((await rig.report('w1', [ok(2), ok(0), ok(99)])).outcomes).toBe('ORO');
    expect(await rig.counts()).toMatchObject({ done: 1, total: 2 });
    expect((await rig.results.record('never-begun', 'w1', [ok(0, 0, 1, 'never-begun')])).outcomes).toBe('O');
    expect(await rig.results.knows('never-begun')).toBe(false);
    expect(await rig.results.counts('never-begun')).toBeUndefined();
    expect(await rig.results.perWorker(BATCH)).toEqual({ w1: 1 });
  });

  it('results recorded for seqs past the end before it was known leave when it is: the batch completes with its own jobs only', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2]));
    expect((await rig.report('w1', [ok(0)])).outcomes).toBe('R');
    // A rogue's results for jobs the split never makes, recorded while the total is unknown.
    const forged = await rig.report('rogue', [ok(3), ok(1_000_000), ok(2 ** 40), failed(7)]);
    expect(forged.outcomes).toBe(store.durable ? 'RRRO' : 'RRRR');
    expect(forged.counts.done).toBe(store.durable ? 4 : 5);
    await rig.end(3);
    expect(await rig.counts()).toMatchObject({ done: 1, failed: 0, total: 3 });
    expect((await rig.report('w1', [ok(1), ok(2)])).counts).toMatchObject({ done: 3, failed: 0, total: 3 });
    const values: number[] = [];
    await rig.results.forEachResult(BATCH, (seq) => void values.push(seq));
    expect(values.sort((a, b) => a - b)).toEqual(store.durable ? [0, 1, 2] : []);
  });

  it('a failure with no retries left is final: counted done and failed; a failed result in memory, a dead letter when durable; a later success is dropped', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    const recording = await rig.report('w1', [failed(0), ok(1)]);
    // Memory says R: the ventilator counts and logs its own dead letters, which reach the sink as
    // failed results too, and the sink would count them a second time as X.
    expect(recording.outcomes).toBe(store.durable ? 'XR' : 'RR');
    expect(recording.counts).toMatchObject({ done: 2, failed: 1 });
    expect((await rig.report('w2', [ok(0, 'fixed', 2)])).outcomes).toMatch(/^[DO]$/);
    expect(await rig.counts()).toMatchObject({ done: 2, failed: 1 });
    expect(await rig.results.perWorker(BATCH)).toEqual({ w1: 2 });
  });

  it('a failure with retries left: durable, it is sent again after its backoff, doubling (within twice that: jitter, see retry-policy.test.ts), not as a suspect; memory takes every failure as final (retries need the durable ledger)', async () => {
    const rig = new Rig(store, { retries: 2, retryBackoffMs: 100, maxAttempts: 5 });
    await rig.begin();
    await rig.send(rig.fresh([0]));
    const first = await rig.report('w1', [failed(0, 1)]);
    if (!store.durable) {
      expect(first).toMatchObject({ outcomes: 'R', counts: { done: 1, failed: 1 } });
      rig.advance(10 * rig.leaseMs);
      expect(redeliveries(await rig.reap())).toEqual([]);
      return;
    }
    expect(first).toMatchObject({ outcomes: 'T', counts: { done: 0, failed: 0 } });
    for (const [attempt, backoff] of [
      [2, 100],
      [3, 200],
    ] as const) {
      rig.advance(backoff - 1);
      expect(redeliveries(await rig.reap())).toEqual([]);
      rig.advance(backoff + 1);
      const due = await rig.reap();
      expect(redeliveries(due)).toEqual([[0, attempt, false]]);
      await rig.send(due.redeliver);
      expect((await rig.report('w1', [failed(0, attempt)])).outcomes).toBe(attempt === 3 ? 'X' : 'T');
    }
    expect(await rig.counts()).toMatchObject({ done: 1, failed: 1 });
  });

  it('a failure of an older attempt than the one out: durable, it is ignored and the newer attempt decides; memory records it (its sink does not know the attempt out)', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0]));
    rig.advance(rig.leaseMs);
    await rig.send((await rig.reap()).redeliver, 'w2');
    expect((await rig.report('w1', [failed(0, 1)])).outcomes).toBe(store.durable ? 'S' : 'R');
    expect((await rig.report('w2', [ok(0, 'second', 2)])).outcomes).toBe(store.durable ? 'R' : 'D');
    expect(await rig.counts()).toMatchObject(store.durable ? { done: 1, failed: 0 } : { done: 1, failed: 1 });
  });

  it('a batch completes once, when its total is known and every job has a result or is a dead letter; a resend of the same summary is answered true, another caller false', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    await rig.report('w1', [ok(0)]);
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary())).toBe(false);
    await rig.end(2);
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary())).toBe(false);
    await rig.report('w1', [failed(1)]);
    expect(await rig.counts()).toMatchObject({ done: 2, failed: 1, total: 2 });
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary(1))).toBe(true);
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary(1))).toBe(true);
    expect(await rig.results.complete(BATCH, PIPELINE, { ...rig.summary(1), wallSeconds: 2 })).toBe(false);
    // Late results of a done batch are dropped.
    expect((await rig.report('w2', [ok(0, 'late', 2), ok(1, 'late', 2)])).outcomes).toMatch(/^[DO]{2}$/);
    expect(await rig.counts()).toMatchObject({ done: 2, failed: 1 });
  });

  it("counts each worker's results and dead letters; the ventilator's own dead letters count under 'ventilator' in memory, under no worker when durable", async () => {
    const rig = new Rig(store, { maxAttempts: 1 });
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2]));
    await rig.report('w1', [ok(0), failed(1)]);
    rig.advance(rig.leaseMs);
    expect((await rig.reap()).deadLettered).toBe(1);
    expect(await rig.counts()).toMatchObject({ done: 3, failed: 2 });
    expect(await rig.results.perWorker(BATCH)).toEqual(store.durable ? { w1: 2 } : { w1: 2, ventilator: 1 });
  });
});
