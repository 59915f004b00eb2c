/**
 * Many pipelines in one deployment (README, "Several pipelines"): one ventilator and one sink
 * serve echo and primes; workers say what they serve (PROTOCOL.md 3.3) and get only those jobs.
 * A pool per pipeline, a worker serving both with slots for each, a protocol version 1 worker
 * refused, and a pipeline that no worker serves yet: its batch waits, counted, and completes once
 * a worker for it joins.
 */
import { describe, expect, it } from 'vitest';
import { loadPipeline } from '@jobpipe/pipeline';
import { durableSuite, FakeWorker, metric, startDurable } from './durable-helpers.js';
import { echoPipeline, primesPipeline, sleep, waitFor, within } from './helpers.js';

const suite = durableSuite('pipelines');
const { cleanup } = suite;

/** Primes below 200,000, by a sieve: what the primes pipeline must answer. */
const PRIMES_BELOW_200K = 17_984;

describe('several pipelines in one deployment', () => {
  it('routes each pipeline to the workers that serve it; a pipeline without one waits, then completes when one joins', async () => {
    const both = `${echoPipeline},${primesPipeline}`;
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: echoPipeline,
      env: { JOBPIPE_PIPELINE: both, JOBPIPE_HEARTBEAT_MS: '200' },
    });
    const primes = await loadPipeline(primesPipeline);
    const ventilator = d.stack.ventilator!;
    const echoPool = await Promise.all(['echo-1', 'echo-2'].map((id) => d.stack.addWorker({ JOBPIPE_PIPELINE: echoPipeline, JOBPIPE_WORKER_ID: id })));
    await Promise.all(echoPool.map((worker) => worker.ready));

    // Only echo is served: its batch completes, the primes batch waits with its jobs counted.
    await d.client.submit(primes, { limit: 200_000, chunk: 2000 }, { batchId: 'primes-first' });
    await d.submit({ jobs: 300 }, 'echo-first');
    const echoFirst = await d.done('echo-first');
    expect(echoFirst.answer).toMatchObject({ count: 300, failed: 0 });
    expect(Object.keys(echoFirst.perWorker).sort()).toEqual(['echo-1', 'echo-2']);
    await waitFor('primes jobs waiting at the ventilator', async () => (await metric(ventilator, 'jobpipe_jobs_waiting', { pipeline: 'primes' })) > 0, 15_000);
    expect(await metric(ventilator, 'jobpipe_workers_connected', { pipeline: 'primes' })).toBe(0);
    expect(await metric(ventilator, 'jobpipe_workers_connected', { pipeline: 'echo' })).toBe(2);
    // A protocol version 1 worker cannot say which pipeline it serves: with two served it is
    // refused (PROTOCOL.md section 8), logged and counted, and gets none of the waiting jobs.
    const v1 = new FakeWorker(d.stack.endpoints.jobsConnect, 'v1-worker');
    cleanup.add('v1 worker', () => v1.close());
    await v1.grant(50);
    await waitFor(
      'the v1 worker refused',
      async () => (await metric(ventilator, 'jobpipe_credit_refused_total', { reason: 'v1_many_pipelines' })) > 0 || undefined,
      10_000,
    );
    const refusal =
      'worker speaks protocol version 1, which cannot say which pipeline it serves, and this ventilator serves several: it gets no jobs; upgrade it (PROTOCOL.md section 8)';
    // The log line may reach us after the counter did (stdout is read as it comes).
    await waitFor('the refusal logged', () => ventilator.logs(refusal).length > 0, 5000);
    await sleep(1000);
    // Logged once, however many Credits the worker sent meanwhile.
    expect(ventilator.logs(refusal)).toHaveLength(1);
    expect(v1.jobs).toEqual([]);
    await v1.close();
    expect((await d.ledger.batchInfo('primes-first'))?.recorded ?? 0).toBe(0);
    expect((await d.client.status('primes', 'primes-first'))?.state).not.toBe('failed');

    // A primes pool of one joins, and a worker serving both pipelines with slots for each. The
    // primes worker asks for no jobs beyond its free slots (no prefetch): primes jobs take
    // microseconds, and with the window its measured rate opens it took all 300 in one CI run,
    // which left both-1 no primes job to show it runs them.
    const primesWorker = await d.stack.addWorker({
      JOBPIPE_PIPELINE: primesPipeline,
      JOBPIPE_WORKER_ID: 'primes-1',
      JOBPIPE_THREADS: '0',
      JOBPIPE_PREFETCH_MS: '0',
    });
    const bothWorker = await d.stack.addWorker({ JOBPIPE_PIPELINE: both, JOBPIPE_WORKER_ID: 'both-1', JOBPIPE_CONCURRENCY: '2', JOBPIPE_THREADS: '0' });
    await Promise.all([primesWorker.ready, bothWorker.ready]);
    const primesFirst = await within('batch primes-first done', 90_000, d.client.waitForBatch('primes', 'primes-first', undefined, 100));
    expect(primesFirst.answer).toMatchObject({ primes: PRIMES_BELOW_200K });
    expect(primesFirst.jobs).toBe(100);

    // Both pipelines at once: each batch's results come only from workers serving its pipeline.
    await d.client.submit(primes, { limit: 200_000, chunk: 1000 }, { batchId: 'primes-second' });
    await d.submit({ jobs: 2000, workMs: 2 }, 'echo-second');
    const [echoSecond, primesSecond] = await Promise.all([
      d.done('echo-second', 60_000),
      within('batch primes-second done', 90_000, d.client.waitForBatch('primes', 'primes-second', undefined, 100)),
    ]);
    expect(echoSecond.answer).toMatchObject({ count: 2000, failed: 0 });
    expect(primesSecond.answer).toMatchObject({ primes: PRIMES_BELOW_200K });
    for (const summary of [echoFirst, primesFirst, echoSecond, primesSecond]) expect(summary.duplicates).toBe(0);
    expect(Object.keys(echoSecond.perWorker).every((worker) => ['echo-1', 'echo-2', 'both-1'].includes(worker))).toBe(true);
    expect(Object.keys(primesSecond.perWorker).every((worker) => ['primes-1', 'both-1'].includes(worker))).toBe(true);

    // Counted per worker and per pipeline at the sink: no worker recorded a job of a pipeline it does not serve.
    const completed = (pipeline: string, worker: string) => metric(d.stack.sink, 'jobpipe_jobs_completed_total', { pipeline, worker });
    expect(await completed('primes', 'echo-1')).toBe(0);
    expect(await completed('primes', 'echo-2')).toBe(0);
    expect(await completed('echo', 'primes-1')).toBe(0);
    expect((await completed('echo', 'echo-1')) + (await completed('echo', 'echo-2')) + (await completed('echo', 'both-1'))).toBe(2300);
    expect((await completed('primes', 'primes-1')) + (await completed('primes', 'both-1'))).toBe(300);
    // The worker serving both has slots for each, and ran jobs of each.
    expect(await metric(bothWorker, 'jobpipe_worker_slots', { pipeline: 'echo' })).toBe(2);
    expect(await metric(bothWorker, 'jobpipe_worker_slots', { pipeline: 'primes' })).toBe(2);
    expect(await completed('primes', 'both-1')).toBeGreaterThan(0);
    expect(await completed('echo', 'both-1')).toBeGreaterThan(0);
    expect(await metric(ventilator, 'jobpipe_credit_refused_total', { reason: 'unknown_pipeline' })).toBe(0);
  }, 180_000);
});
