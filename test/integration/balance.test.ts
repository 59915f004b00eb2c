/**
 * Load balance with credit-based flow control: a worker 10x slower than another must not hoard
 * jobs. With plain PUSH round-robin (or large buffers) the slow worker would get about half the
 * jobs and the batch would take about (jobs / 2) x slowMs; with credit it holds only a job or two,
 * does about slowMs / (slowMs + fastMs) ≈ 9% of the jobs, and the batch takes about as long as the
 * fast worker alone would need.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cleanup, echoPipeline, logsOnce, logTime, scrape, startBatch } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

/** Mean handler run time of a worker, in ms, from its jobpipe_job_duration_seconds histogram. */
async function meanJobMs(metricsUrl: string): Promise<number> {
  const sum = await scrape(metricsUrl, 'jobpipe_job_duration_seconds_sum', { pipeline: 'echo' });
  const count = await scrape(metricsUrl, 'jobpipe_job_duration_seconds_count', { pipeline: 'echo' });
  if (!sum || !count) throw new Error(`no job durations at ${metricsUrl}`);
  return (1000 * sum) / count;
}

describe('load balance', () => {
  it('gives most jobs to the fast worker, and the batch takes about as long as the fast worker alone would', async () => {
    const jobs = 600;
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 2,
      // Sleeps (spin: false) so that the two workers do not compete for the two cores.
      input: { jobs, payloadBytes: 100, workMs: 2, spin: false },
      batchId: 'balance',
      // worker-1 is slow (20 ms a job), worker-2 fast (2 ms); one job at a time each.
      workerEnv: (index) => ({ JOBPIPE_CONCURRENCY: '1', ...(index === 0 ? { JOBPIPE_ECHO_SLOWDOWN: '10' } : {}) }),
    });
    const summary = await events.completed('balance', 45_000);
    const [slow, fast] = stack.workers;

    expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0 });
    const fastJobs = summary.perWorker['worker-2'] ?? 0;
    const slowJobs = summary.perWorker['worker-1'] ?? 0;
    expect(fastJobs + slowJobs).toBe(jobs);
    // The ideal is 1 - 2/(2+20) ≈ 91%; plain round-robin would give 50%.
    expect(fastJobs / jobs, `fast worker's share (fast ${fastJobs}, slow ${slowJobs})`).toBeGreaterThan(0.75);

    // Both workers joined the ventilator (which started the batch before the workers existed);
    // the batch's wall time includes waiting for them, which does not count against the balance.
    const ventilatorLogs = stack.ventilator!;
    const joined = await logsOnce(ventilatorLogs, 'worker joined', 2);
    expect(joined.map((line) => line.worker).sort()).toEqual(['worker-1', 'worker-2']);
    const batchStartedAt = logTime(ventilatorLogs.logs('batch started')[0]!);
    const bothJoinedAfter = (Math.max(...joined.map(logTime)) - batchStartedAt) / 1000;
    const busySeconds = summary.wallSeconds - Math.max(0, bothJoinedAfter);

    // What the fast worker alone would need, from its own measured job time (the machine may be
    // loaded: the measurement moves with it). Generous: 1.5x plus half a second for messaging.
    // A slow worker hoarding half the jobs would need about (jobs / 2) x 20 ms = 6 s.
    const fastMs = await meanJobMs(fast!.url('/metrics'));
    const slowMs = await meanJobMs(slow!.url('/metrics'));
    const fastAloneSeconds = (jobs * fastMs) / 1000;
    const details = `wall ${summary.wallSeconds.toFixed(2)} s, both joined after ${bothJoinedAfter.toFixed(2)} s, busy ${busySeconds.toFixed(2)} s; fast ${fastMs.toFixed(2)} ms/job, slow ${slowMs.toFixed(2)} ms/job, fast alone ${fastAloneSeconds.toFixed(2)} s`;
    expect(slowMs / fastMs, `the slow worker is really slower: ${details}`).toBeGreaterThan(4);
    expect(busySeconds, details).toBeLessThan(1.5 * fastAloneSeconds + 0.5);
  });
});
