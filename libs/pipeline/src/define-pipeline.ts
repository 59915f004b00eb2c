import type { StandardSchemaV1 } from '@standard-schema/spec';
import { JobpipeError } from '@jobpipe/protocol/errors';
import { isStandardSchema } from './standard-schema.js';

/** What a handler gets besides its payload. */
export interface JobContext {
  /** `${batch}:${seq}`: the same on every attempt. */
  readonly jobId: string;
  readonly batch: string;
  readonly seq: number;
  /** 1 on the first delivery, raised on each redelivery. */
  readonly attempt: number;
  /** Aborted when the job's time is up or the worker is shutting down hard. */
  readonly signal: AbortSignal;
}

/** What `collect` gets besides the result: the batch's running state, which it may change. */
export interface CollectContext<S> {
  readonly batch: string;
  readonly seq: number;
  /** Id of the worker that produced the result. */
  readonly worker: string;
  state: S;
}

/** Worker settings a pipeline may suggest; env vars and flags still override them. */
export interface WorkerHints {
  /** Handlers run at once per worker. */
  concurrency?: number;
  /** Worker threads for CPU-bound handlers; 0 runs handlers on the main thread, 'auto' uses every core. */
  threads?: number | 'auto';
  /** A handler running longer than this fails with a TimeoutError, in ms. */
  timeoutMs?: number;
}

export interface PipelineDefinition<Input = any, Payload = any, Result = any, State = any, Answer = any> {
  /** Names the pipeline on the wire, in metrics and in logs: letters, digits, `.`, `_` and `-`. */
  name: string;
  /** Ventilator: turns one batch's input into job payloads; streamed, so it may yield millions. */
  split: (input: Input) => AsyncIterable<Payload> | Iterable<Payload>;
  /** Worker: does one job. Its return value (JSON) is the result; a throw makes a failed result. */
  work: (payload: Payload, ctx: JobContext) => Result | Promise<Result>;
  /** Sink: the state a batch starts with. @default () => ({}) */
  init?: () => State;
  /** Sink: folds one successful result into the batch's state. */
  collect?: (result: Result, ctx: CollectContext<State>) => void | Promise<void>;
  /** Sink: the batch's answer, from its state, once every job has a result. */
  summarize?: (state: State, totals: { jobs: number; failed: number }) => Answer;
  worker?: WorkerHints;
  /**
   * Times a job whose handler failed is tried again (durable ledger only). A handler that throws
   * a NonRetryableError is not retried whatever this says. @default 0
   */
  retries?: number;
  /**
   * Least wait before the first retry, in ms; it doubles for each further one. Each retry waits a
   * random time between its backoff and twice that (jitter, so that jobs failing together do not
   * come back together), at most `retryBackoffMaxMs`. @default 1000
   */
  retryBackoffMs?: number;
  /**
   * The longest wait before a retry, in ms: once the doubling reaches it, retries wait between
   * half of it and it. At least `retryBackoffMs`. @default 300000 (5 minutes), or twice
   * `retryBackoffMs` when that is more
   */
  retryBackoffMaxMs?: number;
  /**
   * The schema of a batch's input, in any library that implements Standard Schema (zod >= 3.24,
   * valibot >= 1, ArkType): checked at submission and again when the ventilator takes the batch,
   * with an error naming each failing field. `split` gets the schema's output.
   */
  input?: StandardSchemaV1<unknown, Input>;
  /**
   * Checks a batch's input (after `input`, when both are given); throw to reject it. With neither,
   * submission starts the split and takes one job.
   */
  validate?: (input: unknown) => void;
}

export type Pipeline<I = any, P = any, R = any, S = any, A = any> = Readonly<PipelineDefinition<I, P, R, S, A>>;

/** A pipeline module that is not usable, with what is wrong. */
export class PipelineError extends JobpipeError {
  override name = 'PipelineError';
}

const NAME = /^[A-Za-z0-9._-]{1,100}$/;
/** `retryBackoffMs` when a pipeline sets none (the durable ledger's default, RedisResultLedgerOptions). */
const DEFAULT_RETRY_BACKOFF_MS = 1000;

/** Checks a pipeline definition and returns it frozen. Throws PipelineError naming the problem. */
export function definePipeline<I, P, R, S = Record<string, unknown>, A = unknown>(definition: PipelineDefinition<I, P, R, S, A>): Pipeline<I, P, R, S, A> {
  assertPipeline(definition);
  return Object.freeze({ ...definition });
}

/** Throws PipelineError unless `value` has the shape of a pipeline definition. */
export function assertPipeline(value: unknown, origin = 'pipeline'): asserts value is Pipeline {
  if (typeof value !== 'object' || value === null) throw new PipelineError(`${origin}: expected a pipeline object, got ${typeof value}`);
  const p = value as Record<string, unknown>;
  if (typeof p.name !== 'string' || !NAME.test(p.name)) {
    throw new PipelineError(`${origin}: name must be 1-100 letters, digits, '.', '_' or '-', got ${JSON.stringify(p.name)}`);
  }
  for (const fn of ['split', 'work'] as const) {
    if (typeof p[fn] !== 'function') throw new PipelineError(`${origin}: ${fn} must be a function`);
  }
  for (const field of ['retries', 'retryBackoffMs'] as const) {
    const value = p[field];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) throw new PipelineError(`${origin}: ${field} must be an integer >= 0`);
  }
  if (p.retryBackoffMaxMs !== undefined) {
    const max = p.retryBackoffMaxMs;
    const base = (p.retryBackoffMs as number | undefined) ?? DEFAULT_RETRY_BACKOFF_MS;
    if (!(Number.isInteger(max) && (max as number) >= 1)) throw new PipelineError(`${origin}: retryBackoffMaxMs must be an integer >= 1`);
    if ((max as number) < base) {
      throw new PipelineError(
        `${origin}: retryBackoffMaxMs (${max}) must be at least retryBackoffMs (${base}${p.retryBackoffMs === undefined ? ', its default' : ''})`,
      );
    }
  }
  for (const fn of ['init', 'collect', 'summarize', 'validate'] as const) {
    if (p[fn] !== undefined && typeof p[fn] !== 'function') throw new PipelineError(`${origin}: ${fn} must be a function when given`);
  }
  if (p.input !== undefined && !isStandardSchema(p.input)) {
    throw new PipelineError(
      `${origin}: input must be a Standard Schema (a zod >= 3.24, valibot >= 1 or ArkType schema, or any object with '~standard': { version: 1, validate })`,
    );
  }
  const hints = p.worker as WorkerHints | undefined;
  if (hints !== undefined) {
    if (typeof hints !== 'object' || hints === null) throw new PipelineError(`${origin}: worker must be an object`);
    if (hints.concurrency !== undefined && !(Number.isInteger(hints.concurrency) && hints.concurrency >= 1)) {
      throw new PipelineError(`${origin}: worker.concurrency must be an integer >= 1`);
    }
    if (hints.threads !== undefined && hints.threads !== 'auto' && !(Number.isInteger(hints.threads) && hints.threads >= 0)) {
      throw new PipelineError(`${origin}: worker.threads must be 'auto' or an integer >= 0`);
    }
    if (hints.timeoutMs !== undefined && !(Number.isFinite(hints.timeoutMs) && hints.timeoutMs > 0)) {
      throw new PipelineError(`${origin}: worker.timeoutMs must be a positive number`);
    }
  }
}
