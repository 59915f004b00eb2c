import type { BatchSummary, JobResult } from '@jobpipe/protocol';
import type { RedisLedger } from './redis-ledger.js';
import type { BatchCounts, Recording, ResultLedger } from './result-ledger.js';

export interface RedisResultLedgerOptions {
  /** Retries of a failed job before it becomes a dead letter (the pipeline's `retries`). @default 0 */
  retries?: number;
  /** Wait before a failed job's first retry, in ms, doubling per attempt (the pipeline's `retryBackoffMs`). @default 1000 */
  retryBackoffMs?: number;
  /** The time, in epoch ms, as the scripts are told it. @default Date.now */
  clock?: () => number;
}

/**
 * Persistence on: results, dead letters and counters in Redis (see RedisLedger). A pack of
 * results is one script call (up to 2,000 results a call).
 */
export class RedisResultLedger implements ResultLedger {
  readonly durable = true;
  readonly #ledger: RedisLedger;
  readonly #retries: number;
  readonly #retryBackoffMs: number;
  readonly #clock: () => number;

  constructor(ledger: RedisLedger, options: RedisResultLedgerOptions = {}) {
    this.#ledger = ledger;
    this.#retries = options.retries ?? 0;
    this.#retryBackoffMs = options.retryBackoffMs ?? 1000;
    this.#clock = options.clock ?? Date.now;
  }

  async record(batch: string, worker: string, results: JobResult[]): Promise<Recording> {
    const now = this.#clock();
    const reply = await this.#ledger.record(batch, worker, results, this.#retries, this.#retryBackoffMs, now);
    return {
      outcomes: reply.outcomes,
      counts: { done: reply.recorded + reply.dead, failed: reply.dead, total: reply.total, startedAt: reply.startedAt ?? now },
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
    return { done: info.recorded + info.dead, failed: info.dead, total: info.total, startedAt: info.startedAt };
  }

  perWorker(batch: string) {
    return this.#ledger.workerCounts(batch);
  }

  complete(batch: string, pipeline: string, summary: BatchSummary) {
    return this.#ledger.complete(batch, pipeline, summary, this.#clock());
  }

  activeBatches(pipeline: string) {
    return this.#ledger.activeBatches(pipeline);
  }

  forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>) {
    return this.#ledger.forEachResult(batch, each);
  }

  forget(): void {}
}
