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

  it('backoff: retry n of a job waits a random time in [min(base*2^(n-1), cap/2), min(base*2^n, cap)]; jobs failing together come back spread, not in lockstep; memory never retries', async () => {
    const [base, cap, step, jobs] = [100, 300, 5, 20];
    const rig = new Rig(store, { retries: 3, retryBackoffMs: base, retryBackoffMaxMs: cap, maxAttempts: 10, leaseMs: 60_000 });
    const seqs = Array.from({ length: jobs }, (_, seq) => seq);
    await rig.begin();
    await rig.send(rig.fresh(seqs));
    // All fail at once, as against one downstream that is down.
    const first = await rig.report(
      'w1',
      seqs.map((seq) => failed(seq, 1)),
    );
    if (!store.durable) {
      expect(first.outcomes).toBe('R'.repeat(jobs));
      rig.advance(10 * cap);
      expect(redeliveries(await rig.reap())).toEqual([]);
      return;
    }
    expect(first.outcomes).toBe('T'.repeat(jobs));
    const failedAt = new Map(seqs.map((seq) => [seq, rig.now]));
    // Windows of retries 1, 2 and 3: [100, 200], then capped: [150, 300] twice.
    const windows = [1, 2, 3].map((n) => [Math.min(base * 2 ** (n - 1), cap / 2), Math.min(base * 2 ** n, cap)] as const);
    const waits: number[][] = windows.map(() => []);
    for (let elapsed = 0; failedAt.size > 0; elapsed += step) {
      expect(elapsed, 'every job comes back within its windows').toBeLessThan(3 * cap + 10 * step);
      rig.advance(step);
      const due = await rig.reap();
      if (due.redeliver.length === 0) continue;
      await rig.send(due.redeliver);
      for (const job of due.redeliver) {
        const retry = job.attempt - 1;
        // Seen at the first probe at or after it was due: up to a step late.
        const wait = rig.now - failedAt.get(job.seq)!;
        const [least, most] = windows[retry - 1]!;
        expect(wait, `retry ${retry} of job ${job.seq}`).toBeGreaterThanOrEqual(least);
        expect(wait, `retry ${retry} of job ${job.seq}`).toBeLessThan(most + step);
        waits[retry - 1]!.push(wait);
        // It fails again at once: the last attempt (retries spent) makes it a dead letter.
        const outcome = (await rig.report('w1', [failed(job.seq, job.attempt)])).outcomes;
        expect(outcome).toBe(retry === 3 ? 'X' : 'T');
        if (retry === 3) failedAt.delete(job.seq);
        else failedAt.set(job.seq, rig.now);
      }
    }
    for (const [n, seen] of waits.entries()) {
      expect(seen, `retry ${n + 1}`).toHaveLength(jobs);
      // Spread over the window: 20 uniform draws over 20 or 30 probe steps land on several.
      expect(new Set(seen).size, `distinct waits of retry ${n + 1}: ${seen}`).toBeGreaterThanOrEqual(5);
    }
    expect(await rig.counts()).toMatchObject({ done: jobs, failed: jobs });
  });

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
