import type { BatchSummary, JobResult } from '@jobpipe/protocol';
import { RecordOutcome } from './record-outcome.js';
import type { BatchCounts, Recording, ResultLedger } from './result-ledger.js';
import { SeenSet } from './seen-set.js';

/**
 * Done batches whose seen-set the memory ledger keeps, to recognise late duplicates. Fewer than the
 * sink's done batch ids (SINK_DEFAULTS.doneBatchesKept, a few bytes each): a seen-set costs a bit per job.
 */
export const MEMORY_DONE_BATCHES_KEPT = 1000;

/**
 * Chunks of a batch's seen-set beyond what its recorded seqs fill, while its end is unknown: 640
 * chunks are 20,971,520 seqs, twice the largest JOBPIPE_MAX_IN_FLIGHT (a ventilator has at most
 * about that many out ahead of the results), and 2.5 MiB: what made-up seqs can cost a batch.
 */
const SPARE_CHUNKS = 640;

export interface MemoryResultLedgerOptions {
  /** The time, in epoch ms. @default Date.now */
  clock?: () => number;
  /** Done batches whose seen-set is kept. @default MEMORY_DONE_BATCHES_KEPT (1000) */
  doneBatchesKept?: number;
}

interface MemoryBatch {
  seen: SeenSet;
  done: number;
  failed: number;
  /** The seqs of the failures recorded while the total was unknown: those past the end leave then. */
  failedBeforeTotal: Set<number>;
  /** The highest seq recorded while the total was unknown. */
  topSeq: number;
  total: number | null;
  startedAt: number;
  perWorker: Record<string, number>;
  /** The summary it completed with; null while it runs. */
  summary: BatchSummary | null;
}

/**
 * Persistence off: the sink's memory, a bit per job (see SeenSet). It keeps the durable ledger's
 * rules but for what needs a ledger shared with the ventilator, or one that outlives the sink; the
 * contract suite (src/contract) holds it to each of these:
 * - a failure is final (retries need the durable ledger) and its outcome is Recorded, a failed
 *   result, not DeadLetter: the ventilator's own dead letters come here as failed results too,
 *   and the ventilator has counted and logged them already. A non-retryable failure
 *   (`error.retryable: false`) is therefore final here as any other, as the durable ledger makes
 *   it a dead letter at once (contract/retry-policy.test.ts);
 * - those count under the worker id 'ventilator' in `perWorker`;
 * - the attempt out is unknown here: a failure of an older attempt is recorded, not ignored as
 *   Stale, and the newer attempt's result is a duplicate;
 * - values are folded as they come and not kept: `forEachResult` has none, `activeBatches` none;
 * - a restart forgets every batch.
 */
export class MemoryResultLedger implements ResultLedger {
  readonly durable = false;
  readonly #batches = new Map<string, MemoryBatch>();
  readonly #done: string[] = [];
  readonly #clock: () => number;
  readonly #doneBatchesKept: number;

  constructor(options: MemoryResultLedgerOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#doneBatchesKept = options.doneBatchesKept ?? MEMORY_DONE_BATCHES_KEPT;
  }

  async record(batch: string, worker: string, results: JobResult[]): Promise<Recording> {
    const state = this.#batches.get(batch);
    // Never begun, or done long ago and forgotten: nothing to record it in, and nothing to create.
    if (!state) return { outcomes: RecordOutcome.Orphan.repeat(results.length), counts: { done: 0, failed: 0, total: null, startedAt: this.#clock() } };
    let outcomes = '';
    for (const result of results) {
      // Past the end of the split: not a job of this batch, and a rogue's way to grow `seen`.
      if (state.total !== null && result.seq >= state.total) {
        outcomes += RecordOutcome.Orphan;
        continue;
      }
      // While the end is unknown, seqs far from those recorded (each a chunk of the seen-set) are
      // made up: a batch's jobs go out in order, at most the ventilator's in-flight bound ahead.
      if (state.total === null && state.seen.wouldSpread(result.seq, SPARE_CHUNKS)) {
        outcomes += RecordOutcome.Orphan;
        continue;
      }
      if (state.summary || !state.seen.add(result.seq)) {
        outcomes += RecordOutcome.Duplicate;
        continue;
      }
      outcomes += RecordOutcome.Recorded;
      state.done++;
      if (!result.ok) state.failed++;
      if (state.total === null) {
        if (result.seq > state.topSeq) state.topSeq = result.seq;
        if (!result.ok) state.failedBeforeTotal.add(result.seq);
      }
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
    // Results recorded for seqs past the end (a rogue or confused peer's) would count toward it.
    if (state.topSeq >= total) {
      for (const seq of state.seen.removeFrom(total)) {
        state.done--;
        if (state.failedBeforeTotal.has(seq)) state.failed--;
      }
    }
    state.failedBeforeTotal.clear();
    return this.#counts(state);
  }

  async counts(batch: string) {
    const state = this.#batches.get(batch);
    return state && this.#counts(state);
  }

  async perWorker(batch: string) {
    return { ...this.#batches.get(batch)?.perWorker };
  }

  async complete(batch: string, _pipeline: string, summary: BatchSummary): Promise<boolean> {
    const state = this.#batches.get(batch);
    // A second call with the same summary is answered as the first, as the durable ledger does
    // for a call resent after its reply was lost.
    if (state?.summary) return state.summary === summary || JSON.stringify(state.summary) === JSON.stringify(summary);
    if (!state || state.total === null || state.done < state.total) return false;
    // What stays of a done batch: enough to recognise late duplicates.
    state.summary = summary;
    this.#done.push(batch);
    if (this.#done.length > this.#doneBatchesKept) this.#batches.delete(this.#done.shift()!);
    return true;
  }

  async activeBatches(_pipeline: string): Promise<string[]> {
    return [];
  }

  // The full signature, so that a subclass (a test's) may override it with the interface's.
  async forEachResult(_batch: string, _each: (seq: number, value: unknown) => void | Promise<void>): Promise<number> {
    return 0;
  }

  forget(batch: string): void {
    if (!this.#batches.get(batch)?.summary) this.#batches.delete(batch);
  }

  #batch(batch: string): MemoryBatch {
    let state = this.#batches.get(batch);
    if (!state) {
      state = {
        seen: new SeenSet(),
        done: 0,
        failed: 0,
        failedBeforeTotal: new Set(),
        topSeq: -1,
        total: null,
        startedAt: this.#clock(),
        perWorker: {},
        summary: null,
      };
      this.#batches.set(batch, state);
    }
    return state;
  }

  #counts(state: MemoryBatch): BatchCounts {
    return { done: state.done, failed: state.failed, total: state.total, startedAt: state.startedAt };
  }
}
