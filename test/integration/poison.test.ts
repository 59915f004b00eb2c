/**
 * Poison jobs (issue 7): a batch of ordinary jobs with one or a few poison ones, on real processes
 * and a redis-server of the test's own (fixtures/poison.mjs: retries 1, job timeout 1 s). Whatever
 * a poison job does, it ends as a dead letter with its attempts and last error, every other job is
 * recorded exactly once, the ventilator and the sink stay up, and the batch finishes with `failed`
 * counting the poison jobs:
 * - a handler that always throws is retried `retries` times, then dead-lettered;
 * - one that hangs (a promise that never settles, or a synchronous infinite loop) is cut off at the
 *   job timeout: on threads its thread is terminated and the job fails with TimeoutError; on the
 *   main thread an async one is abandoned the same way, and a synchronous one, which no timer can
 *   interrupt, has the worker's watchdog kill the process;
 * - one that takes its worker process down (process.exit, process.abort, heap exhaustion) is sent
 *   to another worker, alone, until JOBPIPE_MAX_ATTEMPTS, then dead-lettered; on threads it only
 *   takes its thread down and fails like a throw.
 * Workers that die are restarted as a supervisor (compose, Kubernetes) would, except in the test
 * that checks that a pipeline with no supervisor finishes on the healthy worker left.
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RoleProcess } from '@jobpipe/launcher';
import type { DeadLetter } from '@jobpipe/ledger';
import { runCli, waitFor } from './helpers.js';
import { durableSuite, fixtures, readExecutions, startDurable, type Durable, type Execution } from './durable-helpers.js';

const poisonPipeline = resolve(fixtures, 'poison.mjs');
const suite = durableSuite('poison');
const { cleanup, scratch } = suite;

type Behaviour = 'throw' | 'hang' | 'spin' | 'exit' | 'abort' | 'oom';
type Answer = { count: number; sum: number; failed: number };
interface Ended {
  worker: RoleProcess;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The fixture's job timeout. */
const TIMEOUT_MS = 1000;
const TIMEOUT = { name: 'TimeoutError', message: `handler ran longer than ${TIMEOUT_MS} ms` };
/**
 * A small heap, so a job that exhausts it does so in a moment; and a longer job timeout, so the
 * last garbage collections before the end (seconds on a loaded machine) do not time out first.
 */
const SMALL_HEAP = { NODE_OPTIONS: '--max-old-space-size=64', JOBPIPE_JOB_TIMEOUT_MS: '10000' };

/**
 * A stack of poison-pipeline workers with short heartbeats (a silent worker is presumed dead
 * after 1.5 s: shorter, a worker of a loaded machine seems dead when it is not, and the jobs it
 * holds are charged an attempt), a 4 s lease and, by default, 3 attempts.
 */
function startPoison(workers: number, options: { workerEnv?: Record<string, string>; maxAttempts?: number } = {}): Promise<Durable> {
  return startDurable(cleanup, {
    server: suite.server,
    pipeline: poisonPipeline,
    workers,
    env: { JOBPIPE_HEARTBEAT_MS: '500', JOBPIPE_DRAIN_TIMEOUT_MS: '500' },
    workerEnv: () => ({ JOBPIPE_CONCURRENCY: '2', ...options.workerEnv }),
    ventilatorEnv: { JOBPIPE_LEASE_MS: '4000', JOBPIPE_MAX_ATTEMPTS: String(options.maxAttempts ?? 3) },
  });
}

/** Watches every worker; with `restart`, starts a new one for each that exits, as a supervisor would. */
function watchWorkers(d: Durable, restart: false | Record<string, string>): { ended: Ended[] } {
  const state = { ended: [] as Ended[], stopped: false };
  const watch = (worker: RoleProcess) =>
    void worker.exited.then(({ code, signal }) => {
      if (state.stopped) return;
      state.ended.push({ worker, code, signal });
      if (restart) void d.stack.addWorker(restart).then(watch, () => {});
    });
  d.stack.workers.forEach(watch);
  cleanup.add('worker watch', () => void (state.stopped = true));
  return state;
}

/** Submits `jobs` jobs with these poison ones and waits for the batch to be done. */
async function runBatch(d: Durable, batch: string, jobs: number, poison: Record<number, Behaviour>) {
  const log = join(scratch, `${batch}.log`);
  await d.submit({ jobs, workMs: 20, log, poison }, batch);
  const summary = await d.done(batch, 40_000);
  const runs = (seq: number): Execution[] => readExecutions(log).filter((e) => e.seq === seq);
  return { summary, answer: summary.answer as Answer, runs };
}

/**
 * Every job but the poison ones has exactly one result, the poison ones are the dead letters, the
 * counters agree, nothing is left in flight, and the ventilator and the sink are still up.
 */
async function expectOutcome(d: Durable, batch: string, jobs: number, poison: number[]): Promise<DeadLetter[]> {
  const keys = d.ledger.keys.batch(batch);
  const recorded = (await d.redis.hkeys(keys.results)).map(Number).sort((a, b) => a - b);
  expect(recorded).toEqual([...Array(jobs).keys()].filter((seq) => !poison.includes(seq)));
  const dead = await d.ledger.listDead(batch);
  expect(dead.map((letter) => letter.seq)).toEqual(poison);
  expect(await d.ledger.batchInfo(batch)).toMatchObject({ status: 'done', total: jobs, recorded: jobs - poison.length, dead: poison.length });
  expect(await d.redis.hlen(keys.inflight)).toBe(0);
  expect(await d.redis.zcard(keys.leases)).toBe(0);
  expect(d.stack.ventilator!.running).toBe(true);
  expect(d.stack.sink.running).toBe(true);
  return dead;
}

const sumExcept = (jobs: number, poison: number[]) => (jobs * (jobs - 1)) / 2 - poison.reduce((a, b) => a + b, 0);

describe('poison jobs', () => {
  it('a handler that always throws: a dead letter after its retries, with its last error; every other job runs once', async () => {
    const d = await startPoison(2);
    const jobs = 12;
    const { summary, answer, runs } = await runBatch(d, 'throws', jobs, { 5: 'throw' });
    expect(summary.failed).toBe(1);
    expect(answer).toEqual({ count: jobs - 1, sum: sumExcept(jobs, [5]), failed: 1 });
    const message = 'job 5 is poison: it always throws';
    expect(await expectOutcome(d, 'throws', jobs, [5])).toEqual([
      { batch: 'throws', seq: 5, attempts: 2, payload: expect.objectContaining({ i: 5 }), error: { name: 'Error', message } },
    ]);
    // retries 1: two runs, and every other job ran once.
    expect(runs(5).map((run) => run.attempt)).toEqual([1, 2]);
    for (let seq = 0; seq < jobs; seq++) if (seq !== 5) expect(runs(seq), `runs of job ${seq}`).toHaveLength(1);
    expect(d.stack.workers.every((worker) => worker.running)).toBe(true);

    const list = await runCli(['dead', 'list', 'throws'], { JOBPIPE_REDIS_URL: suite.server.url, JOBPIPE_REDIS_PREFIX: d.prefix }, cleanup).exited;
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim()).toBe(`throws:5  attempts 2  Error: ${message}`);
  });

  it('hangs on threads: a promise that never settles and a synchronous loop are cut off at the timeout; the workers serve on', async () => {
    // One thread and two jobs at once: a job waiting behind a hung one must not time out itself.
    const d = await startPoison(2, { workerEnv: { JOBPIPE_THREADS: '1' } });
    const workers = watchWorkers(d, false);
    const jobs = 12;
    const { summary, runs } = await runBatch(d, 'hang-threads', jobs, { 3: 'hang', 7: 'spin' });
    expect(summary.failed).toBe(2);
    const dead = await expectOutcome(d, 'hang-threads', jobs, [3, 7]);
    expect(dead.map(({ seq, attempts, error }) => ({ seq, attempts, error }))).toEqual([
      { seq: 3, attempts: 2, error: TIMEOUT },
      { seq: 7, attempts: 2, error: TIMEOUT },
    ]);
    for (const seq of [3, 7]) expect(runs(seq).map((run) => run.attempt)).toEqual([1, 2]);
    for (let seq = 0; seq < jobs; seq++) if (seq !== 3 && seq !== 7) expect(runs(seq), `runs of job ${seq}`).toHaveLength(1);
    // Only threads were terminated: no worker process ended.
    expect(workers.ended).toEqual([]);
  });

  it('hangs on the main thread: an async hang times out, a synchronous loop has the watchdog kill its worker; both end as dead letters', async () => {
    const d = await startPoison(3);
    const workers = watchWorkers(d, {});
    const jobs = 12;
    const { summary, runs } = await runBatch(d, 'hang-inline', jobs, { 3: 'hang', 7: 'spin' });
    expect(summary.failed).toBe(2);
    const [hang, spin] = await expectOutcome(d, 'hang-inline', jobs, [3, 7]);
    // The async hang: abandoned at its timeout and retried once, by a worker that lived on to
    // report it. (Its first run may have shared a worker with the loop, which kept its timer from
    // firing: that worker was killed and the job came back.)
    expect(hang!.error).toEqual(TIMEOUT);
    expect(hang!.attempts).toBeGreaterThanOrEqual(2);
    expect(runs(3)).toHaveLength(2);
    const last = d.stack.workers.find((worker) => worker.child.pid === runs(3)[1]!.pid)!;
    expect(last.logs('job failed').filter((line) => line.job === 'hang-inline:3')).toContainEqual(
      expect.objectContaining({ attempt: hang!.attempts, error: TIMEOUT }),
    );
    // The loop: each of its 3 attempts blocked a worker until the watchdog killed it, and its
    // last error says its worker went away.
    expect(spin!.attempts).toBe(3);
    expect(spin!.error).toMatchObject({ name: 'WorkerLost', message: expect.stringMatching(/^no result: worker worker-\d+ went away/) });
    const spinPids = runs(7).map((run) => run.pid);
    expect(runs(7).map((run) => run.attempt)).toEqual([1, 2, 3]);
    expect(new Set(spinPids).size).toBe(3);
    // The last one may still be blocked: the ventilator gave up on the job when the worker fell
    // silent, before its watchdog's time was up.
    const killed = await waitFor('3 workers killed', () => {
      const ended = workers.ended.filter((e) => spinPids.includes(e.worker.child.pid!));
      return ended.length === 3 ? ended : undefined;
    });
    expect(killed.map((e) => e.signal)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);
    for (const { worker } of killed) {
      expect(worker.logs().find((line) => line.level === 'fatal')).toMatchObject({
        worker: worker.name,
        seq: 7,
        timeoutMs: TIMEOUT_MS,
        error: { name: 'TimeoutError' },
        msg: expect.stringMatching(/^event loop blocked past the job timeout/),
      });
    }
    expect(workers.ended).toHaveLength(3);
  });

  it('crashes: process.exit, process.abort and heap exhaustion kill each worker that runs them, up to max attempts; restarted workers finish the batch', async () => {
    const d = await startPoison(3, { workerEnv: SMALL_HEAP });
    const workers = watchWorkers(d, SMALL_HEAP);
    const jobs = 20;
    const poison = { 4: 'exit', 9: 'abort', 14: 'oom' } as const;
    const { summary, answer, runs } = await runBatch(d, 'crash', jobs, poison);
    expect(summary.failed).toBe(3);
    expect(answer).toEqual({ count: jobs - 3, sum: sumExcept(jobs, [4, 9, 14]), failed: 3 });
    const dead = await expectOutcome(d, 'crash', jobs, [4, 9, 14]);
    for (const letter of dead) {
      expect(letter.attempts, `attempts of job ${letter.seq}`).toBe(3);
      expect(letter.error).toMatchObject({ name: 'WorkerLost', message: expect.stringMatching(/^no result: worker worker-\d+ went away/) });
      // Every attempt that ran killed its worker, so each ran on a worker of its own, the last
      // being attempt 3. An attempt is charged per delivery: one can end without running, when
      // the worker holding it was killed first by another poison job (seen on a loaded machine).
      const attempts = runs(letter.seq).map((run) => run.attempt);
      expect(attempts.at(-1), `attempts run of job ${letter.seq}: ${attempts.join(', ')}`).toBe(3);
      expect(attempts, `attempts run of job ${letter.seq}`).toEqual([...attempts].sort((a, b) => a - b));
      expect(new Set(attempts).size).toBe(attempts.length);
      expect(new Set(runs(letter.seq).map((run) => run.pid)).size, `job ${letter.seq} ran on a worker per attempt`).toBe(attempts.length);
    }
    const deaths = [4, 9, 14].reduce((sum, seq) => sum + runs(seq).length, 0);
    await waitFor(`${deaths} workers ended`, () => workers.ended.length === deaths);
    const endOf = (seq: number) =>
      workers.ended.filter((e) => runs(seq).some((run) => run.pid === e.worker.child.pid)).map(({ code, signal }) => ({ code, signal }));
    expect(endOf(4)).toEqual(Array(runs(4).length).fill({ code: 1, signal: null }));
    expect(endOf(9)).toEqual(Array(runs(9).length).fill({ code: null, signal: 'SIGABRT' }));
    // V8 aborts when the heap is exhausted, after saying so on stderr; unless its last garbage
    // collections held the event loop past the job timeout first, and the watchdog killed it.
    for (const ended of workers.ended.filter((e) => runs(14).some((run) => run.pid === e.worker.child.pid))) {
      if (ended.signal === 'SIGABRT') expect(ended.worker.stderr).toMatch(/heap out of memory/);
      else expect(ended.worker.logs().find((line) => line.level === 'fatal')).toMatchObject({ seq: 14, msg: expect.stringMatching(/^event loop blocked/) });
    }
    expect(workers.ended).toHaveLength(deaths);
  });

  it('crashes with no supervisor: the batch finishes on the one healthy worker left', async () => {
    // 3 attempts, 4 workers: the poison job takes 3 of them down, one at a time.
    const d = await startPoison(4);
    const workers = watchWorkers(d, false);
    const jobs = 16;
    const { summary, runs } = await runBatch(d, 'unsupervised', jobs, { 2: 'exit' });
    expect(summary.failed).toBe(1);
    const [dead] = await expectOutcome(d, 'unsupervised', jobs, [2]);
    expect(dead).toMatchObject({ attempts: 3, error: { name: 'WorkerLost' } });
    await waitFor('3 workers ended', () => workers.ended.length === 3);
    expect(workers.ended.map((e) => e.code)).toEqual([1, 1, 1]);
    const survivors = d.stack.workers.filter((worker) => worker.running);
    expect(survivors).toHaveLength(1);
    expect(runs(2).map((run) => run.pid)).not.toContain(survivors[0]!.child.pid);
  });

  it('crashes on threads: exit, abort and heap exhaustion fail the job like a throw; no worker process ends', async () => {
    const d = await startPoison(2, { workerEnv: { JOBPIPE_THREADS: '1', ...SMALL_HEAP } });
    const workers = watchWorkers(d, false);
    const jobs = 20;
    const { summary, runs } = await runBatch(d, 'crash-threads', jobs, { 4: 'exit', 9: 'abort', 14: 'oom' });
    expect(summary.failed).toBe(3);
    const dead = await expectOutcome(d, 'crash-threads', jobs, [4, 9, 14]);
    expect(dead.map(({ seq, attempts, error }) => ({ seq, attempts, error }))).toEqual([
      { seq: 4, attempts: 2, error: { name: 'Error', message: 'worker exited with code: 1' } },
      { seq: 9, attempts: 2, error: { name: 'TypeError', message: 'process.abort() is not supported in workers' } },
      { seq: 14, attempts: 2, error: { name: 'Error', message: 'Worker terminated due to reaching memory limit: JS heap out of memory' } },
    ]);
    for (let seq = 0; seq < jobs; seq++) expect(runs(seq), `runs of job ${seq}`).toHaveLength([4, 9, 14].includes(seq) ? 2 : 1);
    expect(workers.ended).toEqual([]);
  });
});
