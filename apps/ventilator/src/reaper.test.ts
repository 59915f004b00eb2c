import { describe, expect, it } from 'vitest';
import { createLogger, Metrics, metricValue } from '@jobpipe/observability';
import { decode } from '@jobpipe/protocol';
import { MemoryDispatchLedger, type InFlightJob, type PendingJob, type Requeue } from '@jobpipe/ledger';
import { Backlog } from './backlog.js';
import { Reaper, type ReaperOptions } from './reaper.js';

const job = (seq: number, extra: Partial<PendingJob> = {}): PendingJob => ({ batch: 'b', seq, attempt: 1, payloadJson: 'null', ...extra });
const none: Requeue = { redeliver: [], deadToReport: [], deadLettered: 0 };

function setup(ledger: ReaperOptions['ledger'], maxInFlight = 100) {
  const suspects: PendingJob[] = [];
  const backlog = new Backlog({ maxInFlight }, suspects);
  const toSink: Buffer[] = [];
  const metrics = new Metrics({ defaultMetrics: false });
  let running = true;
  const reaper = new Reaper({
    pipeline: 'p',
    labels: { pipeline: 'p' },
    ledger,
    backlog,
    toSink: { send: async (frame) => void toSink.push(frame as Buffer) },
    logger: createLogger('test', 'silent'),
    metrics,
    running: () => running,
  });
  const counter = async (name: string) => metricValue(await metrics.registry.metrics(), name, { pipeline: 'p' }) ?? 0;
  return { backlog, suspects, reaper, toSink, counter, stop: () => (running = false) };
}

describe('Reaper', () => {
  it('brings back jobs whose lease ran out, suspects apart, and reports the dead ones to the sink (memory ledger)', async () => {
    const ledger = new MemoryDispatchLedger({ leaseMs: 10, maxAttempts: 2, clock: () => 1000 });
    const { backlog, suspects, reaper, toSink, counter } = setup(ledger);
    backlog.inFlight.add(job(0), 0, 'w');
    backlog.inFlight.add(job(1, { attempt: 2 }), 0, 'w');
    await reaper.reap();
    expect(backlog.inFlight.size).toBe(0);
    expect([...backlog.redeliveries, ...suspects].map((j) => [j.seq, j.attempt])).toEqual([[0, 2]]);
    expect(await counter('jobpipe_jobs_redelivered_total')).toBe(1);
    expect(await counter('jobpipe_jobs_dead_lettered_total')).toBe(1);
    const report = decode(toSink[0]!);
    expect(report.ok && report.message).toMatchObject({
      type: 'Results',
      pipeline: 'p',
      worker: 'ventilator',
      results: [{ batch: 'b', seq: 1, ok: false, error: { name: 'DeadLetter' } }],
    });
  });

  it('brings back expired jobs when they fill every place in flight (no room left), as they would come back in their own places', async () => {
    const ledger = new MemoryDispatchLedger({ leaseMs: 10, maxAttempts: 3, clock: () => 1000 });
    const { backlog, suspects, reaper } = setup(ledger, 2);
    backlog.inFlight.add(job(0), 0, 'hoarder');
    backlog.inFlight.add(job(1), 0, 'hoarder');
    expect(backlog.reapRoom()).toBe(0);
    await reaper.reap();
    expect(backlog.inFlight.size).toBe(0);
    expect(suspects.map((j) => [j.seq, j.attempt])).toEqual([
      [0, 2],
      [1, 2],
    ]);
  });

  it('takes no more than can go out soon, and renews the reservations of jobs still waiting', async () => {
    const calls: unknown[] = [];
    const ledger: ReaperOptions['ledger'] = {
      hold: async (waiting) => void calls.push(['hold', waiting.map((j) => j.seq)]),
      due: async (_local, limit) => (calls.push(['due', limit]), { ...none, redeliver: [job(5, { suspect: true })] }),
      release: async () => none,
    };
    const { backlog, suspects, reaper } = setup(ledger, 10);
    backlog.comeBack([job(1), job(2, { suspect: true })]);
    backlog.inFlight.add(job(3), 0, 'w');
    backlog.addFresh(job(4));
    await reaper.reap();
    expect(calls).toEqual([
      ['hold', [1, 2]],
      ['due', 10 - 1 - 2],
    ]);
    expect(suspects.map((j) => j.seq)).toEqual([2, 5]);
  });

  it('runs one reap at a time, none once stopped, and survives a ledger that fails', async () => {
    let dues = 0;
    let fail = false;
    const ledger: ReaperOptions['ledger'] = {
      hold: async () => {},
      due: async () => {
        dues++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (fail) throw new Error('Redis down');
        return none;
      },
      release: async () => none,
    };
    const { reaper, stop } = setup(ledger);
    await Promise.all([reaper.reap(), reaper.reap()]);
    expect(dues).toBe(1);
    fail = true;
    await reaper.reap();
    stop();
    await reaper.reap();
    expect(dues).toBe(2);
  });

  it("releases a vanished worker's jobs through the ledger and requeues them", async () => {
    const released: [InFlightJob[], string][] = [];
    const ledger: ReaperOptions['ledger'] = {
      hold: async () => {},
      due: async () => none,
      release: async (held, why) => (
        released.push([held, why]), { ...none, redeliver: held.map((e) => ({ ...e.job, attempt: e.job.attempt + 1, suspect: true })) }
      ),
    };
    const { suspects, reaper } = setup(ledger);
    await reaper.release([], 'w1', 'silent');
    expect(released).toEqual([]);
    await reaper.release([{ job: job(0), dispatchedAt: 1, worker: 'k' }], 'w1', 'silent for 3 heartbeats');
    expect(released[0]![1]).toBe('worker w1 went away (silent for 3 heartbeats)');
    expect(suspects.map((j) => [j.seq, j.attempt])).toEqual([[0, 2]]);
  });
});
