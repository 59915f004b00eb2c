import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Job, JobError } from '@jobpipe/protocol';
import type { JobContext, Pipeline } from '@jobpipe/pipeline';
import { Deadlines } from './deadlines.js';
import { describeError, TimeoutError } from './errors.js';
import { Watchdog } from './watchdog.js';

/** A failure's error as the wire carries it: `retryable: false` when the handler said not to retry it. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: JobError };

/**
 * Runs one job's handler and always comes back with an outcome (a handler's throw is a failed
 * outcome): at once for a synchronous handler on the main thread, as a promise otherwise.
 */
export interface Executor {
  run(job: Job): Outcome | Promise<Outcome>;
  close(): Promise<void>;
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
      const cancel = this.#deadlines.add(() => {
        const error = new TimeoutError(this.timeoutMs);
        ctx.abort(error);
        resolve({ ok: false, error: describeError(error) });
      });
      pending.then(
        (result) => {
          cancel();
          resolve({ ok: true, value: toWireValue(result) });
        },
        (error: unknown) => {
          cancel();
          resolve({ ok: false, error: describeError(error) });
        },
      );
    });
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
    // With more jobs at once than threads, the rest would wait in piscina's queue with their
    // deadline running: behind a job that hangs, they timed out without having started.
    // A finishing job hands its thread straight to the next waiting one.
    if (this.#running >= this.options.threads) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    const controller = new AbortController();
    const cancel = this.#deadlines.add(() => controller.abort(new TimeoutError(this.options.timeoutMs)));
    try {
      const value = await this.#pool.run({ payload: job.payload, batch: job.batch, seq: job.seq, attempt: job.attempt }, { signal: controller.signal });
      return { ok: true, value: toWireValue(value) };
    } catch (error) {
      return { ok: false, error: describeError(controller.signal.aborted ? controller.signal.reason : error) };
    } finally {
      cancel();
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  async close(): Promise<void> {
    this.#deadlines.close();
    await this.#pool.destroy();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
