import type { JobResult } from '@jobpipe/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerStores } from './stores.js';
import { BATCH, failed, ok, redeliveries, Rig } from './rig.js';

// Which failures are retried, on every store: a failure the handler marked not retryable
// (`error.retryable: false` on the wire, PROTOCOL.md 3.2) is final at once, whatever retries the
// pipeline allows. Memory takes every failure as final (see MemoryResultLedger), so there the
// rule is that nothing is ever sent again.

/** A worker's failure for `seq` whose handler threw a NonRetryableError. */
function fatal(seq: number, attempt = 1, message = 'GET /items: 404 Not Found'): JobResult {
  return { batch: BATCH, seq, attempt, dispatchedAt: 0, durationMs: 1, ok: false, error: { name: 'NonRetryableError', message, retryable: false } };
}

describe.each(ledgerStores)('retry policy contract: $name', (store) => {
  beforeAll(() => store.setUp());
  afterAll(() => store.tearDown());

  it('a failure marked retryable false is final at once, whatever retries the pipeline allows: durable, a dead letter keeping that error as its last; it is never sent again', async () => {
    const rig = new Rig(store, { retries: 5, retryBackoffMs: 100, maxAttempts: 10 });
    await rig.begin();
    await rig.send(rig.fresh([0, 1, 2]));
    const recording = await rig.report('w1', [fatal(0), failed(1), ok(2)]);
    // Job 1 failed as any handler's error does: retried when durable. Job 0 is not.
    expect(recording.outcomes).toBe(store.durable ? 'XTR' : 'RRR');
    expect(recording.counts).toMatchObject(store.durable ? { done: 2, failed: 1 } : { done: 3, failed: 2 });
    await rig.end(3);
    for (let n = 0; n < 20; n++) {
      rig.advance(rig.leaseMs);
      const due = await rig.reap();
      expect(redeliveries(due).map(([seq]) => seq)).not.toContain(0);
      if (due.redeliver.length > 0) await rig.send(due.redeliver);
      // Job 1 gets its retries and then succeeds.
      for (const job of due.redeliver) await rig.report('w1', [ok(job.seq, 'fixed', job.attempt)]);
    }
    expect(await rig.counts()).toMatchObject({ done: 3, failed: store.durable ? 1 : 2, total: 3 });
    if (rig.ledgers.deadLetters) {
      expect(await rig.ledgers.deadLetters.list(BATCH)).toEqual([
        { batch: BATCH, seq: 0, attempts: 1, payload: { n: 0 }, error: { name: 'NonRetryableError', message: 'GET /items: 404 Not Found', retryable: false } },
      ]);
    }
    // A late success of the dead job is dropped.
    expect((await rig.report('w2', [ok(0, 'late', 1)])).outcomes).toMatch(/^[DO]$/);
  });

  it('only false stops the retries: a failure whose error says retryable true is retried as any other', async () => {
    const rig = new Rig(store, { retries: 1, retryBackoffMs: 100 });
    await rig.begin();
    await rig.send(rig.fresh([0]));
    const result: JobResult = {
      batch: BATCH,
      seq: 0,
      attempt: 1,
      dispatchedAt: 0,
      durationMs: 1,
      ok: false,
      error: { name: 'Error', message: 'try again', retryable: true },
    };
    expect((await rig.report('w1', [result])).outcomes).toBe(store.durable ? 'T' : 'R');
  });

  it('a non-retryable failure on a retry (attempt 2) ends the retries there, with its own error as the last', async () => {
    const rig = new Rig(store, { retries: 5, retryBackoffMs: 100, maxAttempts: 10 });
    await rig.begin();
    await rig.send(rig.fresh([0]));
    const first = await rig.report('w1', [failed(0, 1, 'flaky')]);
    if (!store.durable) {
      expect(first.outcomes).toBe('R');
      return;
    }
    expect(first.outcomes).toBe('T');
    rig.advance(10 * rig.settings.retryBackoffMs);
    const due = await rig.reap();
    expect(redeliveries(due)).toEqual([[0, 2, false]]);
    await rig.send(due.redeliver);
    expect((await rig.report('w1', [fatal(0, 2, 'gone for good')])).outcomes).toBe('X');
    expect(await rig.ledgers.deadLetters!.list(BATCH)).toEqual([
      { batch: BATCH, seq: 0, attempts: 2, payload: { n: 0 }, error: { name: 'NonRetryableError', message: 'gone for good', retryable: false } },
    ]);
    rig.advance(100 * rig.leaseMs);
    expect(redeliveries(await rig.reap())).toEqual([]);
  });
});
