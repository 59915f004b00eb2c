/**
 * Workers in Python (workers/python) beside TypeScript ones: one ventilator and one sink serve echo
 * and primes, a TypeScript pool serves echo and a pool of Python workers serves primes. A batch of
 * each completes on its own pool, and a Python worker SIGKILLed mid-batch loses nothing: the
 * ventilator hears it go silent and sends its jobs to the other.
 */
import { describe, expect, it } from 'vitest';
import { loadPipeline } from '@jobpipe/pipeline';
import { durableSuite, metric, startDurable } from './durable-helpers.js';
import { echoPipeline, primesPipeline, waitFor } from './helpers.js';
import { startPythonWorker } from './python-worker-process.js';

const suite = durableSuite('python-worker');
const { cleanup } = suite;

/** Primes below 1,000,000. */
const PRIMES_BELOW_1M = 78_498;

describe('workers in Python', () => {
  it('a Python pool serves primes beside a TypeScript pool serving echo; a Python worker SIGKILLed mid-batch loses nothing', async () => {
    const d = await startDurable(cleanup, {
      server: suite.server,
      pipeline: echoPipeline,
      env: { JOBPIPE_PIPELINE: `${echoPipeline},${primesPipeline}`, JOBPIPE_HEARTBEAT_MS: '200' },
    });
    const primes = await loadPipeline(primesPipeline);
    const ventilator = d.stack.ventilator!;
    const echoWorker = await d.stack.addWorker({ JOBPIPE_PIPELINE: echoPipeline, JOBPIPE_WORKER_ID: 'ts-echo-1' });
    await echoWorker.ready;
    const pythons = [await startPythonWorker(cleanup, 'py-primes-1', d.stack.endpoints), await startPythonWorker(cleanup, 'py-primes-2', d.stack.endpoints)];
    await waitFor(
      'both Python workers joined',
      async () => (await metric(ventilator, 'jobpipe_workers_connected', { pipeline: 'primes' })) === 2 || undefined,
      15_000,
    );

    await d.client.submit(primes, { limit: 1_000_000, chunk: 5000 }, { batchId: 'py-primes' });
    await d.submit({ jobs: 2000, workMs: 1 }, 'ts-echo');
    // Mid-batch: one Python worker dies without a word.
    await waitFor('primes under way', async () => ((await d.ledger.batchInfo('py-primes'))?.recorded ?? 0) >= 20 || undefined, 60_000, 50);
    pythons[0]!.child.kill('SIGKILL');
    const [primesSummary, echoSummary] = await Promise.all([d.client.waitForBatch('primes', 'py-primes', undefined, 100), d.done('ts-echo', 90_000)]);

    expect(primesSummary.answer).toMatchObject({ primes: PRIMES_BELOW_1M, ranges: 200 });
    expect([primesSummary.jobs, primesSummary.failed]).toEqual([200, 0]);
    expect(Object.keys(primesSummary.perWorker).sort()).toEqual(['py-primes-1', 'py-primes-2']);
    expect(Object.values(primesSummary.perWorker).reduce((a, b) => a + b, 0)).toBe(200);
    expect(echoSummary.answer).toMatchObject({ count: 2000, failed: 0 });
    expect(Object.keys(echoSummary.perWorker)).toEqual(['ts-echo-1']);
    // The ventilator took the dead worker's jobs back, and the sink recorded each job once.
    expect(await metric(ventilator, 'jobpipe_workers_connected', { pipeline: 'primes' })).toBe(1);
    expect(await metric(d.stack.sink, 'jobpipe_jobs_completed_total', { pipeline: 'echo', worker: 'py-primes-2' })).toBe(0);
    expect(await metric(d.stack.sink, 'jobpipe_jobs_completed_total', { pipeline: 'primes', worker: 'ts-echo-1' })).toBe(0);
    expect(pythons[1]!.output()).not.toMatch(/Traceback/);

    // The survivor drains on SIGTERM and exits 0.
    const survivor = pythons[1]!.child;
    const exited = new Promise<number | null>((resolve) => survivor.once('exit', (code) => resolve(code)));
    survivor.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 150_000);
});
