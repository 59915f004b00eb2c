import type { BatchSummary, JobResult } from '@jobpipe/protocol';
import type { Pipeline } from '@jobpipe/pipeline';
import { SeenSet } from './seen-set.js';

/** One batch as the sink sees it: what was recorded, by whom, and the pipeline's running state. */
export class BatchState {
  readonly seen = new SeenSet();
  readonly perWorker: Record<string, number> = {};
  /** Known once the ventilator's BatchEnd arrives. */
  total: number | null = null;
  completed = 0;
  failed = 0;
  duplicates = 0;
  state: unknown;
  lastProgressAt = 0;

  constructor(
    readonly id: string,
    readonly pipeline: Pipeline,
    /** Sink-local time the batch was first seen: wall time never mixes two hosts' clocks. */
    readonly firstSeenAt: number,
  ) {
    this.state = pipeline.init ? pipeline.init() : {};
  }

  get recorded(): number {
    return this.completed + this.failed;
  }

  get isComplete(): boolean {
    return this.total !== null && this.recorded >= this.total;
  }

  /** Records a result unless its job already has one; returns false for a duplicate. */
  record(result: JobResult, worker: string): boolean {
    if (!this.seen.add(result.seq)) {
      this.duplicates++;
      return false;
    }
    if (result.ok) this.completed++;
    else this.failed++;
    this.perWorker[worker] = (this.perWorker[worker] ?? 0) + 1;
    return true;
  }

  /** The batch's summary; a `summarize` that throws leaves the answer null and its error beside. */
  summarize(now: number): { summary: BatchSummary; answerError?: unknown } {
    const wallSeconds = Math.max(0, (now - this.firstSeenAt) / 1000);
    const jobs = this.total ?? this.recorded;
    let answer: unknown = null;
    let answerError: unknown;
    try {
      if (this.pipeline.summarize) answer = this.pipeline.summarize(this.state, { jobs, failed: this.failed }) ?? null;
    } catch (error) {
      answerError = error;
    }
    const summary: BatchSummary = {
      batch: this.id,
      pipeline: this.pipeline.name,
      jobs,
      failed: this.failed,
      duplicates: this.duplicates,
      wallSeconds,
      jobsPerSecond: wallSeconds > 0 ? jobs / wallSeconds : 0,
      perWorker: { ...this.perWorker },
      answer,
    };
    return answerError === undefined ? { summary } : { summary, answerError };
  }
}
