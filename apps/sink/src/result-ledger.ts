import type { BatchSummary, JobResult } from '@jobpipe/protocol';
import { RecordOutcome, type RedisLedger } from '@jobpipe/ledger';
import { SeenSet } from './seen-set.js';

/** Where a batch stands after recording: `done` counts results recorded plus dead letters. */
export interface BatchCounts {
  done: number;
  failed: number;
  total: number | null;
  /** When the batch began, epoch ms. */
  startedAt: number;
}

/** What happened to each result of a pack (RecordOutcome codes, one per result) and the batch after. */
export interface Recording {
  outcomes: string;
  counts: BatchCounts;
}

/**
 * Where the sink records results exactly once. In memory, a bit per job; durable, a Lua script
 * that moves the job from the in-flight ledger to the results in one step.
 */
export interface ResultLedger {
  readonly durable: boolean;
  record(batch: string, worker: string, results: JobResult[]): Promise<Recording>;
  /** True once the batch was started (by BatchStart, or in the durable ledger by the ventilator). */
  knows(batch: string): Promise<boolean>;
  /** The ventilator's BatchStart: the batch's wall time starts now (a durable ledger has it already). */
  begin(batch: string): Promise<void>;
  /** The ventilator's BatchEnd: the batch has `total` jobs. */
  setTotal(batch: string, total: number): Promise<BatchCounts>;
  counts(batch: string): Promise<BatchCounts | undefined>;
  perWorker(batch: string): Promise<Record<string, number>>;
  /** Marks the batch done; true for the one caller that did. */
  complete(batch: string, pipeline: string, summary: BatchSummary): Promise<boolean>;
  /** Batches of the pipeline not done yet (durable only: memory has no batches but its own). */
  activeBatches(pipeline: string): Promise<string[]>;
  /** Every recorded value of a batch, to fold again after a restart. */
  forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>): Promise<number>;
  /** Forgets a batch's local state. */
  forget(batch: string): void;
}

/** Done batches remembered, to recognise late duplicates (a bit per job each). */
const DONE_BATCHES_KEPT = 1000;

interface MemoryBatch {
  seen: SeenSet;
  done: number;
  failed: number;
  total: number | null;
  startedAt: number;
  perWorker: Record<string, number>;
  completed: boolean;
}

/** Persistence off: the sink's memory. A failed result is final (retries need the durable ledger). */
export class MemoryResultLedger implements ResultLedger {
  readonly durable = false;
  readonly #batches = new Map<string, MemoryBatch>();
  readonly #done: string[] = [];

  async record(batch: string, worker: string, results: JobResult[]): Promise<Recording> {
    const state = this.#batch(batch);
    let outcomes = '';
    for (const result of results) {
      // Past the end of the split: not a job of this batch, and a rogue's way to grow `seen`.
      if (state.total !== null && result.seq >= state.total) {
        outcomes += RecordOutcome.Orphan;
        continue;
      }
      if (state.completed || !state.seen.add(result.seq)) {
        outcomes += RecordOutcome.Duplicate;
        continue;
      }
      outcomes += RecordOutcome.Recorded;
      state.done++;
      if (!result.ok) state.failed++;
      state.perWorker[worker] = (state.perWorker[worker] ?? 0) + 1;
    }
    return { outcomes, counts: this.#counts(state) };
  }

  async knows(batch: string): Promise<boolean> {
    return this.#batches.has(batch);
  }

  async begin(batch: string): Promise<void> {
    this.#batch(batch);
  }

  async setTotal(batch: string, total: number): Promise<BatchCounts> {
    const state = this.#batch(batch);
    state.total = total;
    return this.#counts(state);
  }

  async counts(batch: string) {
    const state = this.#batches.get(batch);
    return state && this.#counts(state);
  }

  async perWorker(batch: string) {
    return { ...this.#batches.get(batch)?.perWorker };
  }

  async complete(batch: string): Promise<boolean> {
    const state = this.#batches.get(batch);
    if (!state || state.completed || state.total === null || state.done < state.total) return false;
    // What stays of a done batch: enough to recognise late duplicates.
    state.completed = true;
    this.#done.push(batch);
    if (this.#done.length > DONE_BATCHES_KEPT) this.#batches.delete(this.#done.shift()!);
    return true;
  }

  async activeBatches() {
    return [];
  }

  async forEachResult() {
    return 0;
  }

  forget(batch: string): void {
    if (!this.#batches.get(batch)?.completed) this.#batches.delete(batch);
  }

  #batch(batch: string): MemoryBatch {
    let state = this.#batches.get(batch);
    if (!state) {
      state = { seen: new SeenSet(), done: 0, failed: 0, total: null, startedAt: Date.now(), perWorker: {}, completed: false };
      this.#batches.set(batch, state);
    }
    return state;
  }

  #counts(state: MemoryBatch): BatchCounts {
    return { done: state.done, failed: state.failed, total: state.total, startedAt: state.startedAt };
  }
}

/** Persistence on: results, dead letters and counters in Redis (see libs/ledger). */
export class RedisResultLedger implements ResultLedger {
  readonly durable = true;
  constructor(
    private readonly ledger: RedisLedger,
    private readonly retries: number,
    private readonly retryBackoffMs: number,
  ) {}

  async record(batch: string, worker: string, results: JobResult[]): Promise<Recording> {
    const reply = await this.ledger.record(batch, worker, results, this.retries, this.retryBackoffMs);
    return { outcomes: reply.outcomes, counts: { done: reply.recorded + reply.dead, failed: reply.dead, total: reply.total, startedAt: reply.startedAt ?? Date.now() } };
  }

  async knows(batch: string): Promise<boolean> {
    return (await this.ledger.batchInfo(batch)) !== undefined;
  }

  async begin(): Promise<void> {}

  async setTotal(batch: string): Promise<BatchCounts> {
    // The ventilator wrote the total to the ledger before it sent BatchEnd.
    return (await this.counts(batch)) ?? { done: 0, failed: 0, total: null, startedAt: Date.now() };
  }

  async counts(batch: string): Promise<BatchCounts | undefined> {
    const info = await this.ledger.batchInfo(batch);
    if (!info) return undefined;
    return { done: info.recorded + info.dead, failed: info.dead, total: info.total, startedAt: info.startedAt };
  }

  perWorker(batch: string) {
    return this.ledger.workerCounts(batch);
  }

  complete(batch: string, pipeline: string, summary: BatchSummary) {
    return this.ledger.complete(batch, pipeline, summary);
  }

  activeBatches(pipeline: string) {
    return this.ledger.activeBatches(pipeline);
  }

  forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>) {
    return this.ledger.forEachResult(batch, each);
  }

  forget(): void {}
}
