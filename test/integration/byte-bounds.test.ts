/**
 * Memory bounded in bytes: jobs of 100 KB through real roles (separate processes, real sockets),
 * with a ventilator budget of ten jobs' worth and workers whose credit in bytes is a few jobs.
 * The roles count what they hold as it comes in and log the most they held when they stop: the
 * ventilator stays within JOBPIPE_MAX_IN_FLIGHT_BYTES (one job may pass it, alone), each worker
 * within JOBPIPE_CREDIT_BYTES, with persistence off (payloads kept in flight) and on (Redis keeps
 * them), and every batch completes with every job once.
 */
import { describe, expect, it } from 'vitest';
import type { Stack } from '@jobpipe/launcher';
import { durableSuite, startDurable } from './durable-helpers.js';
import { echoPipeline, logsOnce, startBatch } from './helpers.js';

const JOBS = 150;
const PAYLOAD_BYTES = 100_000;
const BUDGET = 1_000_000;
const CREDIT = 450_000;
const LIMITS = { JOBPIPE_MAX_MESSAGE_BYTES: String(256 * 1024), JOBPIPE_MAX_IN_FLIGHT_BYTES: String(BUDGET) };
// Three workers' credit is more than the ventilator's budget: the budget, not the workers, bounds
// it. And each worker's credit in jobs (its concurrency and more) is more than its credit in bytes
// (four jobs): the bytes bound it.
const WORKERS = 3;
const workerEnv = () => ({ JOBPIPE_CREDIT_BYTES: String(CREDIT), JOBPIPE_CONCURRENCY: '8' });
// Jobs take 50 ms each, so a worker fills its credit whatever the machine's load, and the test
// sees the bound, not the pace, stop it.
// One echo payload of `payloadBytes` (its padding) and its few fields of JSON.
const ONE_JOB = PAYLOAD_BYTES + 200;

const suite = durableSuite('bytes');

/** Stops the stack and reads the peaks its roles logged on the way out. */
async function peaks(stack: Stack): Promise<{ ventilator: number; workers: number[] }> {
  await stack.stop();
  const [stopped] = await logsOnce(stack.ventilator!, 'ventilator stopped');
  const drained = await Promise.all(stack.workers.map(async (worker) => (await logsOnce(worker, 'worker drained'))[0]!));
  for (const line of drained) expect(line.creditBytes).toBe(CREDIT);
  expect(stopped!.maxInFlightBytes).toBe(BUDGET);
  return { ventilator: Number(stopped!.peakPayloadBytes), workers: drained.map((line) => Number(line.peakHeldBytes)) };
}

/** No worker held more than its credit in bytes, and one at least held its worth: the bytes were what stopped it. */
function workersWithinCredit(peaks: number[]): void {
  for (const peak of peaks) expect(peak).toBeLessThanOrEqual(CREDIT);
  expect(Math.max(...peaks)).toBeGreaterThan(CREDIT - ONE_JOB);
}

describe('memory bounded in bytes', () => {
  it('persistence off: the ventilator holds payloads in flight within its budget, each worker within its byte credit', async () => {
    const { stack, events } = await startBatch(suite.cleanup, {
      pipeline: echoPipeline,
      workers: WORKERS,
      input: { jobs: JOBS, payloadBytes: PAYLOAD_BYTES, workMs: 50 },
      batchId: 'big-payloads',
      env: LIMITS,
      workerEnv,
    });
    const summary = await events.completed('big-payloads', 90_000);
    expect([summary.jobs, (summary.answer as { count: number }).count, summary.failed, summary.duplicates]).toEqual([JOBS, JOBS, 0, 0]);
    const held = await peaks(stack);
    // It held its budget's worth (so the bound was what stopped it), and never a second job past it.
    expect(held.ventilator).toBeGreaterThan(BUDGET - ONE_JOB);
    expect(held.ventilator).toBeLessThan(BUDGET + ONE_JOB);
    workersWithinCredit(held.workers);
  });

  it('persistence on: Redis keeps the payloads in flight, so the ventilator holds only what waits; workers within their byte credit', async () => {
    const durable = await startDurable(suite.cleanup, {
      server: suite.server,
      pipeline: echoPipeline,
      workers: WORKERS,
      env: LIMITS,
      workerEnv,
    });
    await durable.submit({ jobs: JOBS, payloadBytes: PAYLOAD_BYTES, workMs: 50 }, 'big-durable');
    const summary = await durable.done('big-durable', 90_000);
    expect([summary.jobs, (summary.answer as { count: number }).count, summary.failed, summary.duplicates]).toEqual([JOBS, JOBS, 0, 0]);
    const held = await peaks(durable.stack);
    expect(held.ventilator).toBeLessThan(BUDGET + ONE_JOB);
    workersWithinCredit(held.workers);
  });
});
