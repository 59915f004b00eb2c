/**
 * A draining worker is not a dead one (PROTOCOL.md sections 4 and 5). A worker written by hand,
 * following PROTOCOL.md to the letter, takes jobs, sends Drain and finishes them slowly, for more
 * than 3 heartbeat intervals: once sending nothing at all after its Drain (what the protocol's
 * first text asked), once repeating Drain as its heartbeat (what it asks now). Either way the
 * ventilator sends none of its jobs again, the sink records each once, and nobody is said to be
 * silent. And the real worker, drained by SIGTERM while it runs jobs longer than 3 heartbeats,
 * the same.
 */
import { randomBytes } from 'node:crypto';
import { Dealer, Push } from 'zeromq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode, encode, type Job, type JobResult } from '@jobpipe/protocol';
import { Cleanup, echoPipeline, fetchText, logsOnce, metricValue, outputComplete, scrape, sleep, startBatch, waitFor, within } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
afterAll(() => cleanup.run());

/** Short, so that "longer than 3 heartbeats" is quick; every role of the stack uses it. */
const HEARTBEAT_MS = 300;
const SILENT = 'worker silent for 3 heartbeats; requeueing its jobs';

/**
 * A worker as PROTOCOL.md describes it, with a window of `window` jobs: Credit as the heartbeat,
 * then Drain once it holds `window` jobs, Drained awaited until every job sent has arrived, and
 * the jobs' results sent only after `holdMs`.
 */
class LiteralWorker {
  readonly jobs: { pipeline: string; job: Job }[] = [];
  drainedSent: number | undefined;
  readonly #jobs: Dealer;
  readonly #results: Push;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  readonly #loop: Promise<void>;
  #granted = 0;

  constructor(
    readonly id: string,
    jobsConnect: string,
    resultsConnect: string,
  ) {
    // Section 1: a routing id unique per process start, <workerId>-<pid>-<random>.
    const socket = new Dealer({ routingId: `${id}-${process.pid}-${randomBytes(4).toString('hex')}`, linger: 0 });
    socket.connect(jobsConnect);
    this.#jobs = socket;
    this.#results = new Push({ linger: 5000 });
    this.#results.connect(resultsConnect);
    this.#loop = (async () => {
      try {
        for await (const [frame] of socket) {
          const decoded = decode(frame!, { accept: ['Jobs', 'Drained'] });
          if (!decoded.ok) continue;
          const message = decoded.message;
          if (message.type === 'Jobs') for (const job of message.jobs) this.jobs.push({ pipeline: message.pipeline, job });
          else if (message.type === 'Drained') this.drainedSent = message.sent;
        }
      } catch {
        // closed
      }
    })();
  }

  get received(): number {
    return this.jobs.length;
  }

  /** One frame per message, sends serialized (zeromq.js allows one pending send). */
  #send(frame: Buffer): Promise<void> {
    const next = this.#chain.then(() => this.#jobs.send(frame));
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Section 4: grants `window`, and repeats the Credit every heartbeat interval. */
  start(window: number): void {
    this.#granted = window;
    const credit = () => this.#send(encode({ type: 'Credit', worker: this.id, granted: this.#granted, received: this.received }));
    void credit();
    this.#timer = setInterval(() => void credit().catch(() => {}), HEARTBEAT_MS);
  }

  /**
   * Section 5: grants no more, sends Drain, and waits for Drained and every job sent before it.
   * With `heartbeat`, repeats Drain every interval until `close`; without, sends nothing more.
   */
  async drain(heartbeat: boolean): Promise<void> {
    clearInterval(this.#timer);
    const drain = () => this.#send(encode({ type: 'Drain', worker: this.id, received: this.received }));
    await drain();
    if (heartbeat) this.#timer = setInterval(() => void drain().catch(() => {}), HEARTBEAT_MS);
    await waitFor('Drained, and every job it counts', () => this.drainedSent !== undefined && this.received >= this.drainedSent, 10_000, 10);
  }

  /** Finishes what it holds: one Results message (echo's handler returns the payload's `i`). */
  async finish(): Promise<void> {
    const results: JobResult[] = this.jobs.map(({ job }) => ({
      batch: job.batch,
      seq: job.seq,
      attempt: job.attempt,
      dispatchedAt: job.dispatchedAt,
      durationMs: 1,
      ok: true,
      value: (job.payload as { i: number }).i,
    }));
    await this.#results.send(encode({ type: 'Results', pipeline: this.jobs[0]!.pipeline, worker: this.id, results }));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#chain;
    this.#jobs.close();
    this.#results.close();
    await this.#loop;
  }
}

describe('a draining worker is not a dead one', () => {
  for (const heartbeat of [false, true]) {
    it(`a hand-made worker that drains and takes over 3 heartbeats to finish, ${heartbeat ? 'repeating Drain as its heartbeat' : 'silent after its Drain'}: no job sent again, no "silent" warning`, async () => {
      const jobs = 12;
      const window = 4;
      const batch = heartbeat ? 'drain-heartbeat' : 'drain-quiet';
      const { stack, events } = await startBatch(cleanup, {
        pipeline: echoPipeline,
        workers: 0,
        input: { jobs, payloadBytes: 60, workMs: 0 },
        batchId: batch,
        env: { JOBPIPE_HEARTBEAT_MS: String(HEARTBEAT_MS) },
      });
      const summaryPromise = events.completed(batch, 45_000);
      summaryPromise.catch(() => {});
      const ventilator = stack.ventilator!;

      const literal = new LiteralWorker('literal', stack.endpoints.jobsConnect, stack.endpoints.resultsConnect);
      cleanup.add('the hand-made worker', () => literal.close());
      literal.start(window);
      await waitFor(`${window} jobs`, () => literal.received >= window, 15_000, 10);
      // Each step bounded, so that a step that hangs says which (a CI run once hung here for 60 s).
      await within('the hand-made worker to drain', 15_000, literal.drain(heartbeat));
      expect(literal.received).toBe(window);
      expect(literal.drainedSent).toBe(window);

      // The rest of the batch goes to a real worker, which would also get any job of the
      // hand-made worker's that the ventilator sent again.
      const real = await stack.addWorker();
      await within('the real worker to be ready', 20_000, real.ready);
      // Holds its jobs well past 3 heartbeats (900 ms) after its Drain, then reports them.
      await sleep(6 * HEARTBEAT_MS);
      await within('the hand-made worker to send its results', 10_000, literal.finish());

      const summary = await summaryPromise;
      expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0 });
      expect(summary.answer).toEqual({ count: jobs, sum: (jobs * (jobs - 1)) / 2, failed: 0 });
      expect(summary.perWorker).toEqual({ literal: window, 'worker-1': jobs - window });
      await literal.close();

      // The ventilator forgets it without a warning: a quiet one while it still held its jobs
      // (they stayed under their leases), one that repeated Drain once it had gone.
      if (heartbeat) await logsOnce(ventilator, 'drained worker left', 1, 10_000);
      else expect((await logsOnce(ventilator, 'drained worker quiet; its unrecorded jobs stay under their leases')).map((line) => line.held)).toEqual([window]);
      expect(ventilator.logs(SILENT)).toHaveLength(0);
      expect(ventilator.logs('requeueing jobs')).toHaveLength(0);
      const metrics = await fetchText(ventilator.url('/metrics'));
      expect(metricValue(metrics, 'jobpipe_jobs_redelivered_total') ?? 0).toBe(0);
      expect(metricValue(metrics, 'jobpipe_jobs_dispatched_total')).toBe(jobs);
      expect((await scrape(stack.sink.url('/metrics'), 'jobpipe_duplicate_results_total')) ?? 0).toBe(0);
      // One "worker draining" line, however often the worker said Drain.
      expect(ventilator.logs('worker draining').map((line) => `${line.worker} sent ${line.sent}`)).toEqual([`literal sent ${window}`]);
    });
  }

  it('the real worker, stopped by SIGTERM while its jobs take longer than 3 heartbeats: it finishes them, nothing is sent again, no "silent" warning', async () => {
    const jobs = 12;
    const batch = 'drain-slow';
    const { stack, events } = await startBatch(cleanup, {
      pipeline: echoPipeline,
      workers: 2,
      // 1.5 s a job (5 heartbeats), 2 at a time per worker.
      input: { jobs, payloadBytes: 60, workMs: 5 * HEARTBEAT_MS, spin: false },
      batchId: batch,
      env: { JOBPIPE_HEARTBEAT_MS: String(HEARTBEAT_MS) },
      workerEnv: () => ({ JOBPIPE_CONCURRENCY: '2', JOBPIPE_PREFETCH_MS: '0' }),
    });
    const summaryPromise = events.completed(batch, 60_000);
    summaryPromise.catch(() => {});
    const leaving = stack.workers[0]!;
    const ventilator = stack.ventilator!;
    // Once it has some jobs under way: SIGTERM.
    await waitFor('worker-1 to hold jobs', async () => ((await scrape(leaving.url('/metrics'), 'jobpipe_worker_jobs_active')) ?? 0) >= 1, 20_000);
    leaving.child.kill('SIGTERM');
    const exit = await within('worker-1 to drain and exit', 20_000, leaving.exited);
    expect(exit.code).toBe(0);
    await outputComplete(leaving);
    expect(leaving.logs('drain timed out')).toHaveLength(0);
    const received = leaving.logs('worker drained')[0]!.received as number;
    expect(received).toBeGreaterThan(0);

    const summary = await summaryPromise;
    expect(summary).toMatchObject({ jobs, failed: 0, duplicates: 0 });
    expect(summary.perWorker['worker-1']).toBe(received);
    await logsOnce(ventilator, 'drained worker left', 1, 10_000);
    expect(ventilator.logs(SILENT)).toHaveLength(0);
    const metrics = await fetchText(ventilator.url('/metrics'));
    expect(metricValue(metrics, 'jobpipe_jobs_redelivered_total') ?? 0).toBe(0);
    expect(metricValue(metrics, 'jobpipe_jobs_dispatched_total')).toBe(jobs);
  });
});
