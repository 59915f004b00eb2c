import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerStores } from './stores.js';
import { BATCH, failed, ok, PIPELINE, redeliveries, Rig } from './rig.js';
import { LocalJobs } from './local-jobs.js';

// What outlives a process, on every store: resumption of a batch by a new ventilator, a new sink
// finding its batches, dead letters kept for `jobpipe dead`. Memory keeps nothing past its
// process: each rule says what it does instead.
describe.each(ledgerStores)('ledger contract across restarts: $name', (store) => {
  beforeAll(() => store.setUp());
  afterAll(() => store.tearDown());

  it('a restarted ventilator resumes its batch when durable: the split keeps only jobs never sent, the old leases bring back the lost ones; memory starts afresh', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2, 3]));
    await rig.report('w1', [ok(1), failed(2)]);
    // The ventilator dies; its map of what it sent goes with it.
    rig.dispatch = rig.ledgers.restartVentilator();
    rig.local = new LocalJobs();
    rig.advance(rig.leaseMs / 2);
    expect(await rig.begin()).toEqual({ resumed: store.durable, summary: null });
    const kept = await rig.dispatch.keepNew(BATCH, [0, 1, 2, 3, 4, 5]);
    expect(kept).toEqual(store.durable ? [4, 5] : [0, 1, 2, 3, 4, 5]);
    // A job of the split recorded meanwhile is not sent again, fresh or not, once a batch resumed.
    expect((await rig.send(rig.fresh([1, 4, 5]))).map((job) => job.seq)).toEqual(store.durable ? [4, 5] : [1, 4, 5]);
    rig.advance(rig.leaseMs / 2);
    expect(redeliveries(await rig.reap())).toEqual(
      store.durable
        ? [
            [0, 2, true],
            [3, 2, true],
          ]
        : [],
    );
  });

  it('a done batch begun again gives its summary when durable; memory begins it afresh', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0]));
    await rig.end(1);
    await rig.report('w1', [ok(0)]);
    const summary = rig.summary();
    expect(await rig.results.complete(BATCH, PIPELINE, summary)).toBe(true);
    expect(await rig.dispatch.doneSummary(BATCH)).toEqual(store.durable ? summary : null);
    rig.dispatch = rig.ledgers.restartVentilator();
    expect(await rig.dispatch.begin(BATCH, PIPELINE)).toEqual(store.durable ? { resumed: true, summary } : { resumed: false, summary: null });
  });

  it('a restarted sink finds the running batches, their counts and every recorded value when durable; memory finds nothing', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2]));
    await rig.end(3);
    await rig.report('w1', [ok(0, 'a'), ok(1, { x: [1, 0.1] })]);
    const values = async () => {
      const seen: Record<number, unknown> = {};
      const count = await rig.results.forEachResult(BATCH, (seq, value) => void (seen[seq] = value));
      return { count, seen };
    };
    // Memory folds values as they come and keeps none.
    expect(await values()).toEqual(store.durable ? { count: 2, seen: { 0: 'a', 1: { x: [1, 0.1] } } } : { count: 0, seen: {} });
    rig.results = rig.ledgers.restartSink();
    expect(await rig.results.knows(BATCH)).toBe(store.durable);
    expect(await rig.counts()).toEqual(store.durable ? { done: 2, failed: 0, total: 3, startedAt: 1_000_000 } : undefined);
    expect(await rig.results.activeBatches(PIPELINE)).toEqual(store.durable ? [BATCH] : []);
    expect(await values()).toEqual(store.durable ? { count: 2, seen: { 0: 'a', 1: { x: [1, 0.1] } } } : { count: 0, seen: {} });
    expect(await rig.results.perWorker(BATCH)).toEqual(store.durable ? { w1: 2 } : {});
  });

  it('dead letters, when durable, are kept with their attempts and last error; retry sends them round again until the batch completes again; purge forgets them, still counted failed. Memory keeps none: a failed result at the sink is all', async () => {
    const rig = new Rig(store, { maxAttempts: 2 });
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2]));
    await rig.end(3);
    await rig.report('w1', [ok(0), failed(1, 1, 'broken')]);
    rig.advance(rig.leaseMs);
    await rig.send((await rig.reap()).redeliver);
    rig.advance(rig.leaseMs);
    expect((await rig.reap()).deadLettered).toBe(1);
    expect(await rig.counts()).toMatchObject({ done: 3, failed: 2 });
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary(2))).toBe(true);
    const dead = rig.ledgers.deadLetters;
    if (!store.durable) {
      expect(dead).toBeUndefined();
      return;
    }
    expect(await dead!.list(BATCH)).toEqual([
      { batch: BATCH, seq: 1, attempts: 1, payload: { n: 1 }, error: { name: 'Error', message: 'broken' } },
      { batch: BATCH, seq: 2, attempts: 2, payload: { n: 2 }, error: expect.objectContaining({ message: expect.any(String) }) },
    ]);
    expect(await dead!.retry(BATCH, [1])).toBe(1);
    expect(await rig.counts()).toMatchObject({ done: 2, failed: 1 });
    expect(await rig.dispatch.doneSummary(BATCH)).toBeNull();
    const back = await rig.reap();
    // Attempts start again; a job that failed is not a suspect.
    expect(redeliveries(back)).toEqual([[1, 1, false]]);
    await rig.send(back.redeliver);
    expect((await rig.report('w1', [ok(1, 'fixed')])).outcomes).toBe('R');
    expect(await rig.counts()).toMatchObject({ done: 3, failed: 1 });
    expect(await rig.results.complete(BATCH, PIPELINE, rig.summary(1))).toBe(true);
    expect(await dead!.purge(BATCH)).toBe(1);
    expect(await dead!.list(BATCH)).toEqual([]);
    expect(await rig.counts()).toMatchObject({ done: 3, failed: 1 });
  });
});
