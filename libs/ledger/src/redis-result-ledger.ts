import type { BatchSummary, JobResult } from '@jobpipe/protocol';
import { bucketPipeline } from './job-stream.js';
import { DEFAULT_RETENTION, type BatchInfo, type RedisLedger, type Retention } from './redis-ledger.js';
import type { BatchCounts, Recording, ResultLedger } from './result-ledger.js';

export interface RedisResultLedgerOptions {
  /** Retries of a failed job before it becomes a dead letter (the pipeline's `retries`). @default 0 */
  retries?: number;
  /**
   * Least wait before a failed job's first retry, in ms, doubling per attempt (the pipeline's
   * `retryBackoffMs`); each retry waits a random time between that and twice that, at most
   * `retryBackoffMaxMs` (record-9.lua says why). @default 1000
   */
  retryBackoffMs?: number;
  /**
   * The longest wait before a retry, in ms (the pipeline's `retryBackoffMaxMs`); once the doubling
   * reaches it, retries wait between half of it and it. @default DEFAULT_RETRY_BACKOFF_MAX_MS (5
   * minutes), or twice `retryBackoffMs` when that is more
   */
  retryBackoffMaxMs?: number;
  /** Draws the seed of each call's jitter (a number in [0, 1)). @default Math.random */
  random?: () => number;
  /** The time, in epoch ms, as the scripts are told it. @default Date.now */
  clock?: () => number;
  /**
   * How long a done batch's keys stay in Redis, in ms, unless its submission set its own
   * (JOBPIPE_RETENTION); 0 keeps them forever. @default 24 h
   */
  retentionMs?: number;
  /** How long a done batch with dead letters stays, if longer (JOBPIPE_DEAD_RETENTION); 0: forever. @default 7 d */
  deadRetentionMs?: number;
  /** Least time between two trims of the expired batches from the list of batches, in ms. @default 1000 */
  trimEveryMs?: number;
}

/** The longest wait before a retry when the pipeline sets none: 5 minutes. */
export const DEFAULT_RETRY_BACKOFF_MAX_MS = 5 * 60_000;

/**
 * Persistence on: results, dead letters and counters in Redis (see RedisLedger). A pack of
 * results is one script call (up to 2,000 results a call).
 */
export class RedisResultLedger implements ResultLedger {
  readonly durable = true;
  readonly #ledger: RedisLedger;
  readonly #retries: number;
  readonly #retryBackoffMs: number;
  readonly #retryBackoffMaxMs: number;
  readonly #random: () => number;
  readonly #clock: () => number;
  readonly #retention: Retention;
  readonly #trimEveryMs: number;
  #trimmedAt = Number.NEGATIVE_INFINITY;
  #trimming = false;

  constructor(ledger: RedisLedger, options: RedisResultLedgerOptions = {}) {
    this.#ledger = ledger;
    this.#retries = options.retries ?? 0;
    this.#retryBackoffMs = options.retryBackoffMs ?? 1000;
    // A base above the default cap keeps its first window whole rather than being cut by a cap nobody set.
    this.#retryBackoffMaxMs = options.retryBackoffMaxMs ?? Math.max(DEFAULT_RETRY_BACKOFF_MAX_MS, 2 * this.#retryBackoffMs);
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? Date.now;
    this.#retention = {
      retentionMs: options.retentionMs ?? DEFAULT_RETENTION.retentionMs,
      deadRetentionMs: options.deadRetentionMs ?? DEFAULT_RETENTION.deadRetentionMs,
    };
    this.#trimEveryMs = options.trimEveryMs ?? 1000;
  }

  async record(batch: string, worker: string, results: JobResult[]): Promise<Recording> {
    const now = this.#clock();
    const seed = Math.floor(this.#random() * 2 ** 31);
    const reply = await this.#ledger.record(batch, worker, results, this.#retries, this.#retryBackoffMs, now, { maxMs: this.#retryBackoffMaxMs, seed });
    // A bucket of single jobs: whoever waits for one of them looks now.
    const pipeline = bucketPipeline(batch);
    if (pipeline) void this.#ledger.redis.publish(this.#ledger.keys.jobsDone(pipeline), batch).catch(() => {});
    return {
      outcomes: reply.outcomes,
      counts: countsOf(reply, reply.startedAt ?? now),
    };
  }

  async knows(batch: string): Promise<boolean> {
    return (await this.#ledger.batchInfo(batch)) !== undefined;
  }

  async begin(): Promise<void> {}

  async setTotal(batch: string): Promise<BatchCounts> {
    // The ventilator wrote the total to the ledger before it sent BatchEnd.
    return (await this.counts(batch)) ?? { done: 0, failed: 0, total: null, startedAt: this.#clock() };
  }

  async counts(batch: string): Promise<BatchCounts | undefined> {
    const info = await this.#ledger.batchInfo(batch);
    if (!info) return undefined;
    const counts = countsOf(info, info.startedAt);
    if (info.pastEnd > 0) counts.pastEnd = info.pastEnd;
    return counts;
  }

  perWorker(batch: string) {
    return this.#ledger.workerCounts(batch);
  }

  async complete(batch: string, pipeline: string, summary: BatchSummary): Promise<boolean> {
    const won = await this.#ledger.complete(batch, pipeline, summary, this.#clock(), this.#retention);
    this.#trim();
    return won;
  }

  /** Also, at most every `trimEveryMs`, trims the expired batches from the list of batches: the sink's reconcile calls this on its timer. */
  activeBatches(pipeline: string) {
    this.#trim();
    return this.#ledger.activeBatches(pipeline);
  }

  /**
   * Best effort, in the background: a trim that fails (Redis away) is tried again at the next
   * call, and what it missed stays due (see RedisLedger.trimExpired).
   */
  #trim(): void {
    const now = this.#clock();
    if (this.#trimming || now - this.#trimmedAt < this.#trimEveryMs) return;
    this.#trimming = true;
    this.#trimmedAt = now;
    this.#ledger
      .trimExpired(now)
      .catch(() => {})
      .finally(() => {
        this.#trimming = false;
      });
  }

  forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>) {
    return this.#ledger.forEachResult(batch, each);
  }

  forget(): void {}
}

/** A batch's counts; the cancel fields only when something was cancelled, as the memory ledger (which has no cancel) gives them. */
function countsOf(
  { recorded, dead, cancelled, cancelledAt, total }: Pick<BatchInfo, 'recorded' | 'dead' | 'cancelled' | 'cancelledAt' | 'total'>,
  startedAt: number,
): BatchCounts {
  const counts: BatchCounts = { done: recorded + dead + cancelled, failed: dead, total, startedAt };
  if (cancelled > 0) counts.cancelled = cancelled;
  if (cancelledAt !== null) counts.cancelledAt = cancelledAt;
  return counts;
}
