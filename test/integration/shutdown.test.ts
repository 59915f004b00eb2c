/**
 * Shutdown: a worker told to stop (SIGTERM, what Kubernetes and compose send) in the middle of a
 * batch finishes the jobs it holds and exits 0, losing nothing; every role exits promptly with
 * code 0 on SIGTERM and SIGINT.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Stack, type RoleProcess } from '@jobpipe/launcher';
import {
  Cleanup,
  command,
  echoPipeline,
  fetchText,
  hostSettingsBlanked,
  logsOnce,
  metricValue,
  outputComplete,
  retryingPortClashes,
  scrape,
  startBatch,
  waitFor,
  within,
} from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

/** Sends `signal`, waits for the exit; returns the exit code and how long it took. */
async function stopWith(process: RoleProcess, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  process.child.kill(signal);
  // Far above "a few seconds": a hang fails here rather than at the test timeout.
  const exit = await within(`${process.name} to exit on ${signal}`, 20_000, process.exited);
  const ms = Date.now() - started;
  await outputComplete(process);
  return { ...exit, ms };
}

describe('shutdown', () => {
  it('a worker stopped with SIGTERM mid-batch finishes the jobs it holds, exits 0, and nothing is redelivered; then every role exits promptly on SIGTERM', async () => {
    const jobs = 400;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 2,
      // 50 ms a job, 4 at a time: worker-1 holds several jobs at any moment.
      input: { jobs, payloadBytes: 100, workMs: 50, spin: false },
      batchId: 'drain',
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '4' }),
    });
    let completed = false;
    const summaryPromise = events.completed('drain', 45_000).then((summary) => {
      completed = true;
      return summary;
    });
    summaryPromise.catch(() => {});
    const [leaving, staying] = stack.workers as [RoleProcess, RoleProcess];

    // Once worker-1 has done some jobs (as the sink recorded them), stop it.
    const sinkMetrics = stack.sink.url('/metrics');
    await waitFor(
      'worker-1 to complete some jobs',
      async () => ((await scrape(sinkMetrics, 'jobpipe_jobs_completed_total', { worker: 'worker-1' })) ?? 0) >= 12,
    );
    expect(completed, 'the batch was still running when worker-1 was stopped').toBe(false);
    const exit = await stopWith(leaving, 'SIGTERM');
    expect(exit.code, `worker-1 exit (after ${exit.ms} ms)`).toBe(0);
    expect(leaving.logs('drain timed out')).toHaveLength(0);
    const drained = leaving.logs('worker drained');
    expect(drained).toHaveLength(1);
    const received = drained[0]!.received as number;

    const summary = await summaryPromise;
    expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0 });
    expect(summary.answer).toEqual({ count: jobs, sum: (jobs * (jobs - 1)) / 2, failed: 0 });
    expect(summary.perWorker['worker-1']).toBeGreaterThan(0);
    // Every job worker-1 received, it finished and reported: none left for a lease to bring back.
    expect(summary.perWorker['worker-1']).toBe(received);
    expect((summary.perWorker['worker-1'] ?? 0) + (summary.perWorker['worker-2'] ?? 0)).toBe(jobs);
    expect(staying.running).toBe(true);

    // The ventilator forgets the drained session once it has gone quiet (3 heartbeats after
    // worker-1 exited), without a warning and without taking back any job: wait for that, then
    // check nothing was sent again.
    const ventilator = stack.ventilator!;
    // It answered worker-1's Drain with as many jobs as worker-1 says it received (logged once, though the worker repeats Drain as its heartbeat).
    expect((await logsOnce(ventilator, 'worker draining')).map((line) => `${line.worker} sent ${line.sent}`)).toEqual([`worker-1 sent ${received}`]);
    await waitFor('the ventilator to forget worker-1', () => ventilator.logs('drained worker left').length > 0, 15_000);
    expect(ventilator.logs('worker silent for 3 heartbeats; requeueing its jobs')).toHaveLength(0);
    const ventilatorMetrics = await fetchText(ventilator.url('/metrics'));
    expect(metricValue(ventilatorMetrics, 'jobpipe_jobs_redelivered_total') ?? 0).toBe(0);
    expect(metricValue(ventilatorMetrics, 'jobpipe_jobs_dispatched_total')).toBe(jobs);
    expect(ventilator.logs('requeueing jobs')).toHaveLength(0);
    expect((await scrape(sinkMetrics, 'jobpipe_duplicate_results_total')) ?? 0).toBe(0);

    // The rest stops promptly on SIGTERM, in the orderly way: the idle worker, the ventilator, the sink.
    await expectPromptExits([staying, ventilator, stack.sink], 'SIGTERM');
  });

  it('every role exits promptly with code 0 on SIGINT, even a worker whose ventilator is gone', async () => {
    // Ventilator (no batch) first, so the worker connects at once and is known to it.
    const { stack, worker } = await retryingPortClashes('starting a stack', async () => {
      const stack = cleanup.stack(await Stack.start({ command, pipeline: echoPipeline, workers: 0, env: hostSettingsBlanked() }));
      const worker = await stack.addWorker();
      await worker.ready.catch((error: unknown) => {
        stack.killNow();
        throw error;
      });
      return { stack, worker };
    });
    await logsOnce(stack.ventilator!, 'worker joined');
    // The other way round from the orderly SIGTERM above: the worker's Drain goes unanswered and
    // it gives up waiting for Drained after 3 heartbeats (3 s).
    await expectPromptExits([stack.ventilator!, stack.sink, worker], 'SIGINT', { [worker.name]: 8000 });
  });
});

/** Signals each process in turn; each must exit with code 0 within 5 s (or its own bound), saying so in its log. */
async function expectPromptExits(processes: RoleProcess[], signal: NodeJS.Signals, boundsMs: Record<string, number> = {}): Promise<void> {
  for (const process of processes) {
    const exit = await stopWith(process, signal);
    expect(exit, `${process.name} on ${signal}`).toMatchObject({ code: 0, signal: null });
    expect(exit.ms, `${process.name} took ${exit.ms} ms to exit on ${signal}`).toBeLessThan(boundsMs[process.name] ?? 5000);
    expect(process.logs('shutting down').map((line) => line.signal)).toEqual([signal]);
    expect(process.logs('stopped')).toHaveLength(1);
    if (process.options.role === 'worker') expect(process.logs('worker drained')).toHaveLength(1);
  }
}
