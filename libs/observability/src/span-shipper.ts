import { Worker } from 'node:worker_threads';
import type { SpanShipper } from './recorded-spans.js';
import type { SpanRecord } from './span-records.js';
import { exportNice } from './tracing-settings.js';

/** Ended spans are handed to the export thread this many at a time, or this long after the first. */
const HANDOVER_SPANS = 256;
const HANDOVER_MS = 500;

/**
 * The export thread's near end (the thread is span-export-thread.ts). The thread starts with the
 * first span shipped, or with `start()`, so a role that traces nothing (tracing on, nothing
 * sampled) pays nothing for it. Spans wait here in one array until a hand-over, so the role pays
 * one message per 256 spans. The thread never keeps the process alive, except while a flush waits
 * for it; if it stops (an error), spans are dropped with one warning, and the role goes on.
 */
export class ThreadShipper implements SpanShipper {
  readonly #role: string;
  readonly #env: NodeJS.ProcessEnv;
  /** The thread's nice value (JOBPIPE_TRACE_EXPORT_NICE), checked here: a bad one stops the role at its start. */
  readonly #nice: number;
  /** Undefined until the thread starts, and again once it has exited. */
  #thread: Worker | undefined;
  /** Shut down, or the thread exited: spans are dropped from then on, and no thread starts. */
  #stopped = false;
  #started = false;
  #pending: SpanRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #flushes = new Map<number, () => void>();
  #nextFlush = 0;

  constructor(role: string, env: NodeJS.ProcessEnv) {
    this.#role = role;
    this.#env = env;
    this.#nice = exportNice(env);
  }

  /** Whether the export thread has been started (by `start()` or the first span shipped). */
  get started(): boolean {
    return this.#started;
  }

  /** Starts the export thread now rather than with the first span (no-op once started or shut down). */
  start(): void {
    if (!this.#stopped) this.#thread ??= this.#start();
  }

  ship(record: SpanRecord): void {
    if (this.#stopped) return;
    this.#thread ??= this.#start();
    this.#pending.push(record);
    if (this.#pending.length >= HANDOVER_SPANS) this.#handOver();
    else this.#timer ??= setTimeout(() => this.#handOver(), HANDOVER_MS).unref();
  }

  flush(): Promise<void> {
    return this.#ask('flush');
  }

  shutdown(): Promise<void> {
    const done = this.#ask('shutdown');
    // A span that ends after this is dropped, and starts no thread.
    this.#stopped = true;
    return done;
  }

  #start(): Worker {
    this.#started = true;
    const thread = new Worker(new URL('./span-export-thread.js', import.meta.url), { workerData: { role: this.#role, nice: this.#nice }, env: this.#env });
    thread.unref();
    thread.on('message', (message: { flushed: number }) => this.#flushed(message.flushed));
    thread.on('error', (error) => process.emitWarning(`jobpipe tracing: the export thread failed, spans are dropped from now on: ${error.message}`));
    thread.on('exit', () => {
      this.#thread = undefined;
      this.#stopped = true;
      this.#pending = [];
      for (const id of [...this.#flushes.keys()]) this.#flushed(id);
    });
    return thread;
  }

  #handOver(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0 || this.#thread === undefined) return;
    const spans = this.#pending;
    this.#pending = [];
    try {
      this.#thread.postMessage({ spans });
    } catch (error) {
      // A value the structured clone cannot copy: these spans are lost, the role is not.
      process.emitWarning(`jobpipe tracing: ${spans.length} spans dropped: ${(error as Error).message}`);
    }
  }

  #ask(what: 'flush' | 'shutdown'): Promise<void> {
    this.#handOver();
    const thread = this.#thread;
    if (thread === undefined) return Promise.resolve();
    const id = this.#nextFlush++;
    thread.ref();
    return new Promise<void>((resolve) => {
      this.#flushes.set(id, resolve);
      thread.postMessage({ [what]: id });
    });
  }

  #flushed(id: number): void {
    const resolve = this.#flushes.get(id);
    if (!resolve) return;
    this.#flushes.delete(id);
    if (this.#flushes.size === 0) this.#thread?.unref();
    resolve();
  }
}
