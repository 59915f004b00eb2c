import { Worker } from 'node:worker_threads';

/** Slots of the memory shared with the watchdog thread. */
const BEAT = 0;
const IN_HANDLER = 1;
const SEQ = 2;
const ATTEMPT = 3;

export interface WatchdogOptions {
  /** The main thread may be blocked this long, in ms: the job timeout. */
  timeoutMs: number;
  /** Goes on the fatal log line, e.g. `{ role: 'worker', worker: 'w-1' }`. */
  bindings?: Record<string, unknown>;
}

/**
 * Cuts off a handler that blocks the main thread past the job timeout. A synchronous handler (an
 * infinite loop, a CPU-bound job far beyond its time) holds the event loop, so no timer of the
 * main thread can fire: the worker stops heartbeating, answers nothing, and would stay stuck for
 * good. A thread of its own watches a beat the main thread writes to shared memory; when the beat
 * has not moved for longer than the timeout, it logs a fatal line (naming the job when a handler
 * call is what blocks) and SIGKILLs the process. The ventilator then sends the jobs the worker
 * held elsewhere, the one that blocked alone (it is a suspect), until JOBPIPE_MAX_ATTEMPTS; a
 * supervisor restarts the worker. With `threads` > 0 a handler runs on a pool thread instead,
 * which is terminated at its timeout without taking the process down.
 *
 * The costs on the main thread: a timer that writes the beat, and two stores per handler call.
 */
export class Watchdog {
  readonly #shared = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  readonly #beat: NodeJS.Timeout;
  readonly #thread: Worker;

  constructor(options: WatchdogOptions) {
    const checkEveryMs = checkInterval(options.timeoutMs);
    // Twice per check, so a main thread that runs at all beats between two checks.
    this.#beat = setInterval(() => Atomics.add(this.#shared, BEAT, 1), Math.max(5, checkEveryMs >> 1));
    this.#beat.unref();
    this.#thread = new Worker(new URL('./watchdog-thread.js', import.meta.url), {
      workerData: { shared: this.#shared, timeoutMs: options.timeoutMs, checkEveryMs, bindings: options.bindings ?? {} },
      // None of the process's flags: `node -e` passes its script in them, and the thread needs none.
      execArgv: [],
      // Its own small heap: it only reads four numbers.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    this.#thread.unref();
    this.#thread.on('error', (error) => {
      const line = {
        level: 'error',
        time: new Date().toISOString(),
        pid: process.pid,
        ...options.bindings,
        err: { message: error.message },
        msg: 'watchdog thread failed: a handler that blocks the event loop will not be cut off',
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    });
  }

  /** A handler call begins on the main thread. */
  enter(seq: number, attempt: number): void {
    const shared = this.#shared;
    shared[SEQ] = seq;
    shared[ATTEMPT] = attempt;
    shared[IN_HANDLER] = 1;
  }

  /** The handler call returned (or threw). */
  leave(): void {
    this.#shared[IN_HANDLER] = 0;
  }

  async close(): Promise<void> {
    clearInterval(this.#beat);
    await this.#thread.terminate();
  }
}

/** How often the thread looks at the beat: a quarter of the timeout, within 10 ms .. 1 s. */
export function checkInterval(timeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
}
