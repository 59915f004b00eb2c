import type { BatchSummary, JobResult } from '@jobpipe/protocol';

/** Where a batch stands after recording: `done` counts results recorded plus dead letters. */
export interface BatchCounts {
  /** Jobs with a result, dead-lettered or cancelled. */
  done: number;
  /** Of `done`, the failed results and dead letters. */
  failed: number;
  /** Of `done`, the jobs cancelled (durable only; `jobpipe cancel`). */
  cancelled?: number;
  /** When the whole batch was cancelled (epoch ms): it is complete, whatever it has left. */
  cancelledAt?: number | null;
  /** The batch's job count, once its split is over; null before. */
  total: number | null;
  /** Results recorded for seqs past the end and removed once it was known (durable; a rogue's). */
  pastEnd?: number;
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
 * that moves the job from the in-flight ledger to the results in one step. Two implementations,
 * held to the same rules by the contract suite (src/contract): MemoryResultLedger and
 * RedisResultLedger.
 */
export interface ResultLedger {
  readonly durable: boolean;
  /** Records a pack of results from one worker; see RecordOutcome for what happened to each. */
  record(batch: string, worker: string, results: JobResult[]): Promise<Recording>;
  /** True once the batch was started (by BatchStart, or in the durable ledger by the ventilator). */
  knows(batch: string): Promise<boolean>;
  /** The ventilator's BatchStart: the batch's wall time starts now (a durable ledger has it already). */
  begin(batch: string): Promise<void>;
  /** The ventilator's BatchEnd: the batch has `total` jobs. */
  setTotal(batch: string, total: number): Promise<BatchCounts>;
  counts(batch: string): Promise<BatchCounts | undefined>;
  /** Results recorded (and, durable, dead letters made) per worker id. */
  perWorker(batch: string): Promise<Record<string, number>>;
  /**
   * Marks the batch done once every job has a result or is a dead letter; true for the one
   * caller that did.
   */
  complete(batch: string, pipeline: string, summary: BatchSummary): Promise<boolean>;
  /** Batches of the pipeline not done yet (durable only: memory has no batches but its own). */
  activeBatches(pipeline: string): Promise<string[]>;
  /** Every recorded value of a batch, to fold again after a restart (durable only). */
  forEachResult(batch: string, each: (seq: number, value: unknown) => void | Promise<void>): Promise<number>;
  /** Forgets a batch's local state. */
  forget(batch: string): void;
}
