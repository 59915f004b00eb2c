import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerStores } from './stores.js';
import { LocalJobs } from './local-jobs.js';
import { failed, ok, redeliveries, Rig } from './rig.js';

// The dispatch side's rules, on every store: write-ahead, leases, redelivery with attempts, dead
// letters. Where a store is documented to differ (see MemoryDispatchLedger), the rule says so.
describe.each(ledgerStores)('dispatch ledger contract: $name', (store) => {
  beforeAll(() => store.setUp());
  afterAll(() => store.tearDown());

  it('write-ahead: a job sent and never recorded comes back when its lease runs out, attempt raised, as a suspect', async () => {
    const rig = new Rig(store);
    await rig.begin();
    expect(await rig.send(rig.fresh([0]))).toHaveLength(1);
    rig.advance(rig.leaseMs - 1);
    expect(redeliveries(await rig.reap())).toEqual([]);
    rig.advance(1);
    const due = await rig.reap();
    expect(redeliveries(due)).toEqual([[0, 2, true]]);
    expect(due.redeliver[0]).toMatchObject({ batch: 'b1', payloadJson: '{"n":0}' });
    expect(due.deadLettered).toBe(0);
  });

  it('a job recorded within its lease never comes back', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    expect((await rig.report('w1', [ok(0), ok(1)])).outcomes).toBe('RR');
    rig.advance(10 * rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([]);
  });

  it('jobs sent together share a lease: when it runs out, each one still without a result comes back', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2, 3, 4]));
    await rig.report('w1', [ok(1), ok(3)]);
    rig.advance(rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([
      [0, 2, true],
      [2, 2, true],
      [4, 2, true],
    ]);
  });

  it("the ventilator's own expired jobs all come back whatever the limit, with none too: they were counted out already", async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2, 3, 4]));
    rig.advance(rig.leaseMs);
    const due = await rig.reap(0);
    expect(due.redeliver.map((job) => job.seq).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(rig.local.size).toBe(0);
  });

  it('durable: jobs this ventilator did not send (before its restart) come at most `limit` a call; the rest on the next', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2, 3, 4]));
    rig.dispatch = rig.ledgers.restartVentilator();
    rig.local = new LocalJobs();
    rig.advance(rig.leaseMs);
    const first = await rig.reap(2);
    if (!store.durable) {
      expect(first.redeliver).toEqual([]); // memory forgot them with the ventilator
      return;
    }
    expect(first.redeliver).toHaveLength(2);
    expect((await rig.reap(0)).redeliver).toEqual([]);
    const rest = await rig.reap(10);
    expect(rest.redeliver).toHaveLength(3);
    expect([...first.redeliver, ...rest.redeliver].map((job) => job.seq).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('a job sent again has a lease of its own from then', async () => {
    const rig = new Rig(store, { maxAttempts: 5 });
    await rig.begin();
    await rig.send(rig.fresh([0]));
    rig.advance(rig.leaseMs);
    const { redeliver } = await rig.reap();
    rig.advance(rig.leaseMs / 2);
    await rig.send(redeliver);
    rig.advance(rig.leaseMs - 1);
    expect(redeliveries(await rig.reap())).toEqual([]);
    rig.advance(1);
    expect(redeliveries(await rig.reap())).toEqual([[0, 3, true]]);
  });

  it('a job taken for redelivery is not taken twice while it waits, and hold keeps it so past its reservation', async () => {
    const rig = new Rig(store, { maxAttempts: 5 });
    await rig.begin();
    await rig.send(rig.fresh([0]));
    rig.advance(rig.leaseMs);
    const { redeliver: waiting } = await rig.reap();
    expect(waiting).toHaveLength(1);
    rig.advance(rig.leaseMs * 0.6);
    expect(redeliveries(await rig.reap())).toEqual([]);
    await rig.dispatch.hold(waiting);
    rig.advance(rig.leaseMs * 0.6);
    expect(redeliveries(await rig.reap())).toEqual([]);
    // Sent at last: attempt 2, as it was taken.
    expect((await rig.send(waiting)).map((job) => job.attempt)).toEqual([2]);
  });

  it('each delivery raises the attempt; after maxAttempts deliveries the job is a dead letter, counted done and failed, its late result dropped', async () => {
    const rig = new Rig(store, { maxAttempts: 3 });
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    await rig.end(2);
    await rig.report('w1', [ok(1)]);
    for (const attempt of [2, 3]) {
      rig.advance(rig.leaseMs);
      const due = await rig.reap();
      expect(redeliveries(due)).toEqual([[0, attempt, true]]);
      await rig.send(due.redeliver);
    }
    rig.advance(rig.leaseMs);
    const last = await rig.reap();
    expect(last.redeliver).toEqual([]);
    expect(last.deadLettered).toBe(1);
    expect(await rig.counts()).toMatchObject({ done: 2, failed: 1, total: 2 });
    // The third delivery's result, too late: the job is a dead letter already.
    expect((await rig.report('w1', [ok(0, 'late', 3)])).outcomes).toMatch(/^[DO]$/);
    expect(await rig.counts()).toMatchObject({ done: 2, failed: 1 });
    expect(await rig.results.complete('b1', 'contract', rig.summary(1))).toBe(true);
    rig.advance(10 * rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([]);
  });

  it("a vanished worker's jobs come back at once, attempt raised, as suspects; other workers' jobs keep their leases", async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1]), 'w1');
    await rig.send(rig.fresh([2]), 'w2');
    await rig.report('w1', [ok(1)]);
    const back = await rig.lose('w1');
    expect(redeliveries(back)).toEqual([[0, 2, true]]);
    expect(back.deadLettered).toBe(0);
    await rig.send(back.redeliver, 'w3');
    await rig.report('w3', [ok(0, 0, 2)]);
    rig.advance(rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([[2, 2, true]]);
  });

  it("a vanished worker's job on its last attempt becomes a dead letter", async () => {
    const rig = new Rig(store, { maxAttempts: 2 });
    await rig.begin();
    await rig.send(rig.fresh([0]), 'w1');
    await rig.end(1);
    rig.advance(rig.leaseMs);
    await rig.send((await rig.reap()).redeliver, 'w2');
    const gone = await rig.lose('w2');
    expect(gone.redeliver).toEqual([]);
    expect(gone.deadLettered).toBe(1);
    expect(await rig.counts()).toMatchObject({ done: 1, failed: 1, total: 1 });
  });

  it('a failure with no retries left is never sent again', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0]));
    await rig.report('w1', [failed(0)]);
    rig.advance(10 * rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([]);
    expect(await rig.counts()).toMatchObject({ done: 1, failed: 1 });
  });

  it('a redelivery whose late result was recorded while it waited: durable, the write-ahead skips it; memory sends it and the sink drops the second result', async () => {
    const rig = new Rig(store);
    await rig.begin();
    await rig.send(rig.fresh([0, 1]));
    rig.advance(rig.leaseMs);
    const { redeliver } = await rig.reap();
    expect((await rig.report('w1', [ok(0, 'late')])).outcomes).toBe('R');
    const sent = await rig.send(redeliver, 'w2');
    // Memory's dispatch side cannot know: the sink that recorded the result is another process.
    expect(sent.map((job) => job.seq)).toEqual(store.durable ? [1] : [0, 1]);
    if (!store.durable) expect((await rig.report('w2', [ok(0, 'again', 2)])).outcomes).toBe('D');
    expect(await rig.counts()).toMatchObject({ done: 1, failed: 0 });
  });
});
