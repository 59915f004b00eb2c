import { describe, expect, it } from 'vitest';
import { createLogger, Metrics } from '@jobpipe/observability';
import { decode, JOBS_FRAME_SLACK_BYTES, JobsFrameEncoder } from '@jobpipe/protocol';
import type { PendingJob } from '@jobpipe/ledger';
import { Backlog } from './backlog.js';
import { Dispatcher, type DispatcherOptions } from './dispatcher.js';
import { Isolation } from './isolation.js';
import { WorkerRegistry, type WorkerSession } from './worker-registry.js';

const job = (seq: number, batch = 'b', extra: Partial<PendingJob> = {}): PendingJob => ({ batch, seq, attempt: 1, payloadJson: `${seq}`, ...extra });
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/** A dispatcher with fake neighbours: a ledger whose write-aheads the test settles, a sender that records frames. */
function setup(options: { maxJobsPerMessage?: number; maxMessageBytes?: number; send?: () => Promise<void>; traces?: DispatcherOptions['traces'] } = {}) {
  const workers = new WorkerRegistry(1000);
  const isolation: Isolation = new Isolation(workers, (key) => backlog.inFlight.heldBy(key) + (workers.byKey(key)?.reserved ?? 0));
  const backlog: Backlog = new Backlog({ maxInFlight: 1000 }, isolation.queue);
  const admits: { batch: string; seqs: number[]; fresh: boolean; settle: (skipped: number[]) => void; fail: (error: Error) => void }[] = [];
  const sent: { to: string; jobs: { batch: string; seq: number; traceparent?: string }[] }[] = [];
  const events: string[] = [];
  const refused: { seqs: number[]; name: string; message: string }[] = [];
  let running = true;
  const maxMessageBytes = options.maxMessageBytes ?? 4096;
  const dispatcher = new Dispatcher({
    options: {
      maxMessageBytes,
      maxJobsPerMessage: options.maxJobsPerMessage ?? 500,
      packBudgetBytes: maxMessageBytes - JOBS_FRAME_SLACK_BYTES,
      leaseMs: 1000,
      labels: { pipeline: 'p' },
    },
    ledger: {
      admit: (batch, jobs, _deadline, fresh) => new Promise((settle, fail) => admits.push({ batch, seqs: jobs.map((j) => j.seq), fresh, settle, fail })),
    },
    backlog,
    workers,
    isolation,
    encoder: new JobsFrameEncoder('p'),
    toWorkers: {
      send: async (frames) => {
        const [to, frame] = frames as Buffer[];
        const decoded = decode(frame!);
        const message = decoded.ok ? decoded.message : undefined;
        if (message?.type === 'Jobs')
          sent.push({ to: to!.toString(), jobs: message.jobs.map(({ batch, seq, traceparent }) => ({ batch, seq, ...(traceparent ? { traceparent } : {}) })) });
        await options.send?.();
      },
    },
    sessions: {
      packLeft: (session: WorkerSession) => void events.push(`left ${session.workerId}`),
      lost: async (session: WorkerSession, why: string) => void events.push(`lost ${session.workerId} ${why}`),
    },
    logger: createLogger('test', 'silent'),
    metrics: new Metrics({ defaultMetrics: false }),
    running: () => running,
    ...(options.traces ? { traces: options.traces } : {}),
    refuse: (jobs, _dispatchedAt, error) => void refused.push({ seqs: jobs.map((j) => j.seq), ...error }),
  });
  const loop = dispatcher.run();
  const stop = async () => {
    running = false;
    backlog.changed.notify();
    for (const admit of admits) admit.settle([]);
    await loop;
  };
  return { workers, backlog, isolation, admits, sent, events, refused, stop };
}

describe('Dispatcher', () => {
  it('sends only against credit, packs what waits, and writes each pack ahead before it leaves', async () => {
    const { workers, backlog, admits, sent, events, stop } = setup();
    for (let seq = 0; seq < 5; seq++) backlog.addFresh(job(seq));
    await tick();
    expect(admits).toEqual([]); // no worker has credit
    const session = workers.credit(Buffer.from('w1'), 'w1', 3, 0);
    backlog.changed.notify();
    await tick();
    expect(admits.map((a) => [a.seqs, a.fresh])).toEqual([[[0, 1, 2], true]]);
    // Reserved while written ahead: counted against the credit, and as out.
    expect([session.reserved, workers.available(session), backlog.admitting, backlog.out]).toEqual([3, 0, 3, 5]);
    expect(sent).toEqual([]);
    admits[0]!.settle([]);
    await tick();
    expect(sent).toEqual([{ to: 'w1', jobs: [0, 1, 2].map((seq) => ({ batch: 'b', seq })) }]);
    expect([session.reserved, session.sent, backlog.admitting, backlog.inFlight.heldBy(session.key)]).toEqual([0, 3, 0, 3]);
    expect(events).toEqual(['left w1']);
    await stop();
  });

  it('overlaps the write-aheads of up to 4 packs, and sends them in the order they were built', async () => {
    const { workers, backlog, admits, sent, stop } = setup({ maxJobsPerMessage: 1 });
    workers.credit(Buffer.from('w'), 'w', 10, 0);
    for (let seq = 0; seq < 6; seq++) backlog.addFresh(job(seq));
    await tick();
    expect(admits.map((a) => a.seqs[0])).toEqual([0, 1, 2, 3]);
    for (const admit of admits.slice(0, 4)) admit.settle([]);
    await tick();
    expect(sent.map((s) => s.jobs[0]!.seq)).toEqual([0, 1, 2, 3]);
    expect(admits.length).toBe(6);
    await stop();
  });

  it('takes packs from open batches in turn, the highest priority first', async () => {
    const { workers, backlog, admits, stop } = setup({ maxJobsPerMessage: 2 });
    backlog.fresh.setPriority('urgent', 1);
    for (let seq = 0; seq < 4; seq++) backlog.addFresh(job(seq, 'big'));
    backlog.addFresh(job(0, 'small'));
    backlog.addFresh(job(0, 'urgent'));
    workers.credit(Buffer.from('w'), 'w', 20, 0);
    await tick();
    expect(admits.map((a) => `${a.batch}:${a.seqs.join(',')}`)).toEqual(['urgent:0', 'big:0,1', 'small:0', 'big:2,3']);
    await stop();
  });

  it('sends redeliveries before fresh jobs, one batch per pack, and skips what the ledger says was recorded meanwhile', async () => {
    const { workers, backlog, admits, sent, stop } = setup();
    workers.credit(Buffer.from('w'), 'w', 10, 0);
    backlog.addFresh(job(0, 'fresh'));
    backlog.comeBack([job(7, 'old', { attempt: 2 }), job(8, 'old', { attempt: 2 })]);
    await tick();
    expect(admits.map((a) => [a.batch, a.seqs, a.fresh])).toEqual([
      ['old', [7, 8], false],
      ['fresh', [0], true],
    ]);
    admits[0]!.settle([7]);
    admits[1]!.settle([]);
    await tick();
    expect(sent.map((s) => s.jobs)).toEqual([[{ batch: 'old', seq: 8 }], [{ batch: 'fresh', seq: 0 }]]);
    await stop();
  });

  it('sends a suspect alone to an idle worker', async () => {
    const { workers, backlog, isolation, admits, stop } = setup();
    const busy = workers.credit(Buffer.from('busy'), 'busy', 10, 0);
    backlog.inFlight.add(job(99), 0, busy.key);
    workers.credit(Buffer.from('idle'), 'idle', 10, 0);
    backlog.comeBack([job(1, 'b', { suspect: true }), job(2, 'b', { suspect: true })]);
    await tick();
    expect(isolation.queue.length).toBe(1);
    expect(admits.map((a) => a.seqs)).toEqual([[1]]);
    await stop();
  });

  it('puts a pack back in line when its write-ahead fails, and reports a worker that cannot be reached', async () => {
    const { workers, backlog, admits, events, stop } = setup({ send: () => Promise.reject(new Error('EHOSTUNREACH')) });
    const session = workers.credit(Buffer.from('w'), 'w', 2, 0);
    backlog.addFresh(job(0));
    await tick();
    admits[0]!.fail(new Error('Redis down'));
    await tick();
    // Nothing sent; the jobs stay out (counted) during the pause before they go back in line.
    expect([session.reserved, backlog.admitting, backlog.out]).toEqual([0, 1, 1]);
    await new Promise((resolve) => setTimeout(resolve, 550));
    expect(admits.length).toBe(2);
    admits[1]!.settle([]);
    await tick();
    expect(events).toEqual(['left w', 'lost w unreachable', 'left w']);
    await stop();
  });

  it('keeps a pack under the message limit', async () => {
    const { workers, backlog, admits, stop } = setup({ maxMessageBytes: 1024 });
    workers.credit(Buffer.from('w'), 'w', 100, 0);
    for (let seq = 0; seq < 10; seq++) backlog.addFresh({ ...job(seq), payloadJson: JSON.stringify('x'.repeat(300)) });
    await tick();
    expect(admits.map((a) => a.seqs.length).every((n) => n <= 3)).toBe(true);
    await stop();
  });

  it('sends no job that alone is above the message limit: written ahead, then refused as JobTooLarge, and the next job goes on', async () => {
    const { workers, backlog, admits, sent, refused, stop } = setup({ maxMessageBytes: 1024 });
    workers.credit(Buffer.from('w'), 'w', 100, 0);
    backlog.addFresh({ ...job(0), payloadJson: JSON.stringify('x'.repeat(2000)) });
    backlog.addFresh(job(1));
    await tick();
    expect(admits[0]!.seqs).toEqual([0]);
    admits[0]!.settle([]);
    await tick();
    expect(refused).toEqual([
      { seqs: [0], name: 'JobTooLarge', message: expect.stringMatching(/^a Jobs message with it alone has \d+ bytes; messages are limited to 1024/) },
    ]);
    admits[1]!.settle([]);
    await tick();
    expect(sent.flatMap((pack) => pack.jobs.map((j) => j.seq))).toEqual([1]);
    await stop();
  });

  it('sends a worker that grants credit in bytes no message beyond it, and nothing until its next Credit when not one job fits', async () => {
    const { workers, backlog, admits, sent, stop } = setup({ maxMessageBytes: 64 * 1024 });
    // 100 jobs of credit, but bytes for about two jobs of 1,000 bytes.
    const session = workers.credit(Buffer.from('w'), 'w', 100, 0, Date.now(), { grantedBytes: 2600, receivedBytes: 0 });
    for (let seq = 0; seq < 6; seq++) backlog.addFresh({ ...job(seq), payloadJson: JSON.stringify('x'.repeat(1000)) });
    await tick();
    expect(admits.map((a) => a.seqs)).toEqual([[0, 1]]);
    admits[0]!.settle([]);
    await tick();
    // What went out is counted against the bytes: the rest waits for more.
    expect(sent.map((s) => s.jobs.length)).toEqual([2]);
    expect(session.bytes!.sent).toBeLessThanOrEqual(2600);
    expect([session.waitsForBytes, workers.available(session), admits.length]).toEqual([true, 0, 1]);
    // The worker finished them: its next Credit grants their bytes again.
    workers.credit(Buffer.from('w'), 'w', 100, 2, Date.now(), { grantedBytes: 2600 + session.bytes!.sent, receivedBytes: session.bytes!.sent });
    backlog.changed.notify();
    await tick();
    expect(admits.map((a) => a.seqs)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    await stop();
  });

  it('tracing on: the sampled jobs carry their traceparent, and their spans end once the pack has left', async () => {
    const ended: number[][] = [];
    const tp = (seq: number) => `00-${'a'.repeat(32)}-${seq.toString(16).padStart(16, '0')}-01`;
    const { workers, backlog, admits, sent, stop } = setup({
      traces: {
        pack: (_batch, jobs) => {
          const traced = jobs.filter((j) => j.seq % 2 === 0);
          return traced.length === 0
            ? undefined
            : { traceparents: new Map(traced.map((j) => [j.seq, tp(j.seq)])), end: (left) => void ended.push(left.map((j) => j.seq)) };
        },
      },
    });
    for (let seq = 0; seq < 4; seq++) backlog.addFresh(job(seq));
    workers.credit(Buffer.from('w1'), 'w1', 4, 0);
    backlog.changed.notify();
    await tick();
    expect(ended).toEqual([]);
    admits[0]!.settle([]);
    await tick();
    expect(sent[0]!.jobs).toEqual([
      { batch: 'b', seq: 0, traceparent: tp(0) },
      { batch: 'b', seq: 1 },
      { batch: 'b', seq: 2, traceparent: tp(2) },
      { batch: 'b', seq: 3 },
    ]);
    expect(ended).toEqual([[0, 1, 2, 3]]);
    await stop();
  });
});
