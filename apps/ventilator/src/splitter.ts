import { heldPayload, JOB_OVERHEAD_BYTES, JOBS_FRAME_SLACK_BYTES } from '@jobpipe/protocol';
import { JobpipeError } from '@jobpipe/protocol/errors';
import { PipelineError, type Pipeline } from '@jobpipe/pipeline';
import type { DispatchLedger, PendingJob } from '@jobpipe/ledger';
import type { Backlog } from './backlog.js';

/** A split stopped because its batch was cancelled (`jobpipe cancel`): not a failure. */
export class BatchCancelled extends JobpipeError {
  constructor(readonly batch: string) {
    super(`batch ${batch} was cancelled during its split`);
  }
}

/** A synchronous split yields to the event loop after this many jobs. */
const SPLIT_YIELD_EVERY = 1000;

export interface SplitterOptions {
  pipeline: Pipeline;
  /** Asked which jobs of a resumed batch were never dispatched. */
  ledger: Pick<DispatchLedger, 'keepNew'>;
  /** Where fresh jobs go, and what pauses the split. */
  backlog: Backlog;
  maxJobsPerMessage: number;
  maxMessageBytes: number;
  /** False once the ventilator stops: a split under way then fails. */
  running: () => boolean;
}

/**
 * Turns a batch's input into fresh jobs: walks the pipeline's split, stringifies each payload once,
 * refuses one that can never fit in a message, and pauses while the backlog is full (beyond the
 * batch's share, see Backlog.mayAdd). Several
 * batches may split at once; each counts its own jobs.
 */
export class Splitter {
  readonly #o: SplitterOptions;
  /** Jobs split so far, per batch under way: progress before the total is known. */
  readonly #soFar = new Map<string, number>();

  constructor(options: SplitterOptions) {
    this.#o = options;
  }

  /** Jobs split so far by the batches this ventilator runs (the batch_jobs_split gauge). */
  get splitSoFar(): number {
    let sum = 0;
    for (const count of this.#soFar.values()) sum += count;
    return sum;
  }

  /** A batch is done: its count leaves the gauge. */
  forget(batchId: string): void {
    this.#soFar.delete(batchId);
  }

  /**
   * Streams the split into the backlog, pausing while too much is out; returns the job count.
   * `tally.queued` counts the jobs queued (of a resumed batch, those the ledger did not have).
   */
  async split(input: unknown, batchId: string, resumed: boolean, tally: { queued: number } = { queued: 0 }): Promise<number> {
    const { pipeline, ledger, backlog, maxJobsPerMessage, maxMessageBytes, running } = this.#o;
    const room = maxMessageBytes - JOBS_FRAME_SLACK_BYTES - JOB_OVERHEAD_BYTES - Buffer.byteLength(batchId);
    let seq = 0;
    // A resumed batch checks its jobs against the ledger a pack at a time; a new one needs not.
    let candidates: PendingJob[] = [];
    const flush = async () => {
      const jobs = candidates;
      candidates = [];
      const keep = new Set(
        await ledger.keepNew(
          batchId,
          jobs.map((job) => job.seq),
        ),
      );
      const kept = jobs.filter((job) => keep.has(job.seq));
      tally.queued += kept.length;
      backlog.addFreshJobs(kept);
    };
    const accept = (payload: unknown): PendingJob => {
      let payloadJson: string;
      try {
        payloadJson = JSON.stringify(payload === undefined ? null : payload);
      } catch (error) {
        throw new PipelineError(`${pipeline.name}: split yielded a payload JSON cannot carry at job ${batchId}:${seq}: ${(error as Error).message}`);
      }
      // A job that cannot fit in a message could never be delivered: fail the batch, loudly.
      if (payloadJson.length * 3 > room && Buffer.byteLength(payloadJson) > room) {
        throw new PipelineError(
          `${pipeline.name}: job ${batchId}:${seq} has a payload of ${Buffer.byteLength(payloadJson)} bytes; messages are limited to ${maxMessageBytes} (JOBPIPE_MAX_MESSAGE_BYTES)`,
        );
      }
      return { batch: batchId, seq: seq++, attempt: 1, payloadJson: heldPayload(payloadJson) };
    };
    const step = async (payload: unknown): Promise<void> => {
      while (running() && !backlog.mayAdd(batchId)) {
        if (backlog.isBatchCancelled(batchId)) throw new BatchCancelled(batchId);
        await backlog.room.wait(1000);
      }
      if (!running()) throw new Error(`ventilator stopped during batch ${batchId}`);
      const job = accept(payload);
      this.#soFar.set(batchId, seq);
      if (!resumed) return backlog.addFresh(job);
      candidates.push(job);
      if (candidates.length >= maxJobsPerMessage) await flush();
    };
    const jobs = pipeline.split(input);
    if (Symbol.asyncIterator in jobs) {
      // `step` only when it may wait: awaiting an async function per job was the largest share
      // of the ventilator's allocation under a paced split.
      for await (const payload of jobs) {
        if (resumed || !running() || !backlog.mayAdd(batchId)) {
          await step(payload);
        } else {
          backlog.addFresh(accept(payload));
          this.#soFar.set(batchId, seq);
        }
      }
    } else {
      // A synchronous split is walked without a promise per job (`for await` made one each);
      // it still yields now and then, so credits and heartbeats are read while it runs.
      let sinceYield = 0;
      for (const payload of jobs as Iterable<unknown>) {
        if (resumed || !running() || !backlog.mayAdd(batchId) || ++sinceYield >= SPLIT_YIELD_EVERY) {
          sinceYield = 0;
          await step(payload);
          await new Promise((resolve) => setImmediate(resolve));
        } else {
          backlog.addFresh(accept(payload));
        }
      }
    }
    if (candidates.length > 0) await flush();
    this.#soFar.set(batchId, seq);
    return seq;
  }
}
