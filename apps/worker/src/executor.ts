import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Job, JobError } from '@jobpipe/protocol';
import type { JobContext, Pipeline } from '@jobpipe/pipeline';
import { Deadlines } from './deadlines.js';
import { CancelledError, describeError, TimeoutError } from './errors.js';
import { Watchdog } from './watchdog.js';

/** A failure's error as the wire carries it: `retryable: false` when the handler said not to retry it. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: JobError };

/**
 * Runs one job's handler and always comes back with an outcome (a handler's throw is a failed
 * outcome): at once for a synchronous handler on the main thread, as a promise otherwise.
 */
export interface Executor {
  run(job: Job): Outcome | Promise<Outcome>;
  /**
   * Stops the running jobs that `matches` picks (a Cancel): each handler's signal aborts with a
   * CancelledError and its job comes back at once as failed with it. Returns how many it stopped.
   */
  cancel(matches: (job: Job) => boolean): number;
  close(): Promise<void>;
}

/** A job that runs asynchronously, and how to stop it: each executor keeps these while they run. */
interface Running {
  job: Job;
  stop(error: Error): void;
}

/** Stops the running jobs that match, each with its batch's CancelledError. */
function cancelMatching(running: Set<Running>, matches: (job: Job) => boolean): number {
  let stopped = 0;
  for (const entry of running) {
    if (!matches(entry.job)) continue;
    running.delete(entry);
    entry.stop(new CancelledError(entry.job.batch));
    stopped++;
  }
  return stopped;
}

export interface ExecutorOptions {
  pipeline: Pipeline;
  pipelinePath: string;
  /** 0 runs handlers on the main thread; more runs them on a pool of worker threads. */
  threads: number;
  timeoutMs: number;
  /**
   * Main thread only: a watchdog thread kills the process when a handler blocks the event loop
   * past `timeoutMs` (see watchdog.ts). Off in tests that run an executor inside the test runner.
   * @default true
   */
  watchdog?: boolean;
  /** Goes on the watchdog's fatal line, so it names the worker. */
  workerId?: string;
}

export function resolveThreads(threads: number | 'auto'): number {
  return threads === 'auto' ? availableParallelism() : threads;
}

export function createExecutor(options: ExecutorOptions): Executor {
  return options.threads > 0
    ? new ThreadPoolExecutor(options)
    : new InlineExecutor(options.pipeline, options.timeoutMs, options.watchdog ?? true, options.workerId);
}

/** A JSON value for the wire: `undefined` becomes null. */
function toWireValue(value: unknown): unknown {
  return value === undefined ? null : value;
}

class LazyContext implements JobContext {
  #controller: AbortController | undefined;
  constructor(private readonly job: Job) {}
  get jobId() {
    return `${this.job.batch}:${this.job.seq}`;
  }
  get batch() {
    return this.job.batch;
  }
  get seq() {
    return this.job.seq;
  }
  get attempt() {
    return this.job.attempt;
  }
  // Most handlers never look at the signal: make its AbortController only when asked.
  get signal() {
    return (this.#controller ??= new AbortController()).signal;
  }
  abort(reason: unknown) {
    this.#controller?.abort(reason);
  }
}

/**
 * Runs handlers on the main thread: right for I/O-bound handlers, and the fastest for tiny ones.
 * An async handler past its deadline is abandoned (its signal aborts); a synchronous one cannot be
 * interrupted, so the watchdog kills the process when one blocks past the deadline.
 */
class InlineExecutor implements Executor {
  readonly #deadlines: Deadlines;
  readonly #watchdog: Watchdog | undefined;
  readonly #running = new Set<Running>();
  constructor(
    private readonly pipeline: Pipeline,
    private readonly timeoutMs: number,
    watchdog: boolean,
    workerId: string | undefined,
  ) {
    this.#deadlines = new Deadlines(timeoutMs);
    this.#watchdog = watchdog ? new Watchdog({ timeoutMs, bindings: { role: 'worker', ...(workerId === undefined ? {} : { worker: workerId }) } }) : undefined;
  }

  run(job: Job): Outcome | Promise<Outcome> {
    const ctx = new LazyContext(job);
    let value: unknown;
    this.#watchdog?.enter(job.seq, job.attempt);
    try {
      value = this.pipeline.work(job.payload, ctx);
    } catch (error) {
      return { ok: false, error: describeError(error) };
    } finally {
      this.#watchdog?.leave();
    }
    if (!isPromiseLike(value)) return { ok: true, value: toWireValue(value) };
    const pending = value;
    return new Promise<Outcome>((resolve) => {
      // The first of these ends the job; a handler that settles after its deadline or its cancel is ignored.
      const entry: Running = {
        job,
        stop: (error) => {
          settle({ ok: false, error: describeError(error) });
          ctx.abort(error);
        },
      };
      const settle = (outcome: Outcome) => {
        clearDeadline();
        this.#running.delete(entry);
        resolve(outcome);
      };
      const clearDeadline = this.#deadlines.add(() => entry.stop(new TimeoutError(this.timeoutMs)));
      this.#running.add(entry);
      pending.then(
        (result) => settle({ ok: true, value: toWireValue(result) }),
        (error: unknown) => settle({ ok: false, error: describeError(error) }),
      );
    });
  }

  cancel(matches: (job: Job) => boolean): number {
    return cancelMatching(this.#running, matches);
  }

  async close(): Promise<void> {
    this.#deadlines.close();
    await this.#watchdog?.close();
  }
}

/**
 * Runs handlers on worker threads (piscina), so CPU-bound handlers use every core; a job past its
 * deadline has its thread terminated. A handler that exits or crashes its thread (process.exit,
 * heap exhaustion) fails its job; piscina starts a new thread.
 */
class ThreadPoolExecutor implements Executor {
  readonly #pool: Piscina;
  readonly #deadlines: Deadlines;
  /** Jobs waiting for a free thread: their deadline starts when they get one. */
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  /** Jobs given to run and not yet done, those waiting for a thread included. */
  readonly #jobs = new Set<Running>();
  constructor(private readonly options: ExecutorOptions) {
    this.#pool = new Piscina({
      filename: fileURLToPath(new URL('./thread-task.js', import.meta.url)),
      workerData: { pipelinePath: options.pipelinePath },
      minThreads: options.threads,
      maxThreads: options.threads,
      // The worker's own credit window bounds what waits here; piscina's queue never grows past it.
      maxQueue: 'auto',
    });
    this.#deadlines = new Deadlines(options.timeoutMs);
  }

  async run(job: Job): Promise<Outcome> {
    // Aborting terminates the job's thread: its handler sees no signal, but stops.
    const controller = new AbortController();
    const entry: Running = { job, stop: (error) => controller.abort(error) };
    this.#jobs.add(entry);
    // With more jobs at once than threads, the rest would wait in piscina's queue with their
    // deadline running: behind a job that hangs, they timed out without having started.
    // A finishing job hands its thread straight to the next waiting one.
    if (this.#running >= this.options.threads) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    const cancel = this.#deadlines.add(() => controller.abort(new TimeoutError(this.options.timeoutMs)));
    try {
      // Cancelled while it waited for a thread: never started.
      if (controller.signal.aborted) return { ok: false, error: describeError(controller.signal.reason) };
      const value = await this.#pool.run({ payload: job.payload, batch: job.batch, seq: job.seq, attempt: job.attempt }, { signal: controller.signal });
      return { ok: true, value: toWireValue(value) };
    } catch (error) {
      return { ok: false, error: describeError(controller.signal.aborted ? controller.signal.reason : error) };
    } finally {
      cancel();
      this.#jobs.delete(entry);
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  cancel(matches: (job: Job) => boolean): number {
    return cancelMatching(this.#jobs, matches);
  }

  async close(): Promise<void> {
    this.#deadlines.close();
    await this.#pool.destroy();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
