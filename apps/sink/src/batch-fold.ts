import type { BatchSummary } from '@jobpipe/protocol';
import type { Pipeline } from '@jobpipe/pipeline';
import type { BatchCounts } from '@jobpipe/ledger';

/** A batch's running answer in the sink: the pipeline's collect state, folded result by result. */
export class BatchFold {
  state: unknown;
  duplicates = 0;
  lastProgressAt = 0;
  /** Successful results handed to collect: never more than the ledger recorded, unless Redis lost some. */
  folded = 0;
  /** Being folded again from the ledger, or a refold that failed: not to be summarized as it is. */
  stale = false;
  /** The ledger's count of results removed past the batch's end, as of the last refold. */
  pastEndSeen = 0;

  constructor(
    readonly id: string,
    readonly pipeline: Pipeline,
  ) {
    this.state = pipeline.init ? pipeline.init() : {};
  }

  /** Back to the pipeline's initial state, to fold again from the ledger. */
  reset(): void {
    this.state = this.pipeline.init ? this.pipeline.init() : {};
    this.folded = 0;
  }

  /**
   * Folds one successful result in; a collect that throws leaves the state as it was and rethrows.
   * A promise only when the pipeline's collect returned one: a promise and an await per result
   * were the sink's largest allocation at a light load.
   */
  collect(seq: number, value: unknown, worker: string): void | Promise<void> {
    this.folded++;
    if (!this.pipeline.collect) return;
    const ctx = { batch: this.id, seq, worker, state: this.state };
    const done = this.pipeline.collect(value, ctx);
    if (done) {
      return done.then(() => {
        this.state = ctx.state;
      });
    }
    this.state = ctx.state;
  }

  /** The batch's summary; a `summarize` that throws leaves the answer null and its error beside. */
  summarize(counts: BatchCounts, perWorker: Record<string, number>, now: number): { summary: BatchSummary; answerError?: unknown } {
    const wallSeconds = Math.max(0, (now - counts.startedAt) / 1000);
    const jobs = counts.total ?? counts.done;
    // A batch cancelled whole: whatever it did not finish was cancelled (as complete-10.lua counts).
    const cancelled = counts.cancelledAt && counts.total !== null ? counts.total - (counts.done - (counts.cancelled ?? 0)) : (counts.cancelled ?? 0);
    let answer: unknown = null;
    let answerError: unknown;
    try {
      if (this.pipeline.summarize) answer = this.pipeline.summarize(this.state, { jobs, failed: counts.failed }) ?? null;
    } catch (error) {
      answerError = error;
    }
    const summary: BatchSummary = {
      batch: this.id,
      pipeline: this.pipeline.name,
      jobs,
      failed: counts.failed,
      duplicates: this.duplicates,
      wallSeconds,
      jobsPerSecond: wallSeconds > 0 ? jobs / wallSeconds : 0,
      perWorker,
      answer,
      ...(cancelled > 0 ? { cancelled } : {}),
    };
    return answerError === undefined ? { summary } : { summary, answerError };
  }
}
