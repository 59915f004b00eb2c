import { encode } from '@jobpipe/protocol';
import type { BatchCounts } from '@jobpipe/ledger';
import { BatchFold } from './batch-fold.js';
import type { CompiledSinkOptions } from './sink-options.js';

/** What the book needs besides the sink's options: where events go. */
export interface BatchBookNeighbours {
  /** Sends an encoded event frame (BatchProgress, BatchCompleted) to subscribers. */
  publish(frame: Buffer): void;
  /** Sends the Recorded acks gathered so far; called before a completion is announced. */
  flushAcks(): void;
  /** Drops a BatchStart or BatchEnd of a batch nobody knows (jobpipe_malformed_messages_total, reason unknown_batch). */
  unknownBatch?(detail: string): void;
}

type BookOptions = Pick<CompiledSinkOptions, 'pipeline' | 'ledger' | 'logger' | 'metrics' | 'maxOpenBatches' | 'doneBatchesKept' | 'progressEveryMs'>;

/**
 * The sink's open batches: each one's fold (its pipeline's running answer), its latest counts,
 * its progress and its completion; and the batches it saw done. Touches the ledger to open a
 * fold (reading back the results recorded so far), to begin and end a batch, and to complete it.
 * Folds are kept per batch and carry their own pipeline, so many batches run at once.
 */
export class BatchBook {
  readonly #o: BookOptions;
  readonly #n: BatchBookNeighbours;
  readonly #folds = new Map<string, Promise<BatchFold>>();
  /** Batches this sink saw done, oldest first: a late duplicate for one needs no fold. */
  readonly #done = new Set<string>();
  /** The latest counts of each open batch, for the batch progress gauges. */
  readonly #openCounts = new Map<string, BatchCounts>();
  readonly #labels: { pipeline: string };
  /** Completions under way, one per batch: a reconcile that finds the batch done meanwhile joins it. */
  readonly #completing = new Map<string, Promise<void>>();
  /** Folds being read again because Redis lost results they hold, one per batch. */
  readonly #refolding = new Map<string, Promise<void>>();
  #lane: Promise<unknown> = Promise.resolve();

  constructor(options: BookOptions, neighbours: BatchBookNeighbours) {
    this.#o = options;
    this.#n = neighbours;
    this.#labels = { pipeline: options.pipeline.name };
    const { metrics } = options;
    const sum = (pick: (counts: BatchCounts) => number) => () => [...this.#openCounts.values()].reduce((total, counts) => total + pick(counts), 0);
    // Every batch open here, recorded into or not yet (a BatchStart opens one before its first result).
    metrics.sampleGauge(metrics.batchesOpen, this.#labels, () => this.#folds.size);
    metrics.sampleGauge(
      metrics.batchJobsDone,
      this.#labels,
      sum((counts) => counts.done),
    );
    metrics.sampleGauge(
      metrics.batchJobsExpected,
      this.#labels,
      sum((counts) => counts.total ?? 0),
    );
  }

  get openBatches(): number {
    return this.#folds.size;
  }

  isDone(batch: string): boolean {
    return this.#done.has(batch);
  }

  /** The batch's fold if it is open (maybe still being read back), without opening it. */
  openFold(batch: string): Promise<BatchFold> | undefined {
    return this.#folds.get(batch);
  }

  /** The batch's fold, opened on first sight: one the ledger already has results for is folded again from them. */
  fold(batch: string): Promise<BatchFold> {
    let fold = this.#folds.get(batch);
    if (!fold) {
      if (this.#folds.size >= this.#o.maxOpenBatches) throw new Error(`too many open batches (${this.#folds.size})`);
      fold = this.#refold(batch);
      this.#folds.set(batch, fold);
      fold.catch(() => this.#folds.delete(batch));
    }
    return fold;
  }

  /** A done batch that runs again (`dead retry`): folded afresh from the ledger. */
  reopen(batch: string): Promise<BatchFold> {
    this.#done.delete(batch);
    return this.fold(batch);
  }

  /**
   * Runs `step` when no other serial step runs. Opening a fold reads back what the ledger holds;
   * a record round and the reconciler take turns, so no fold is read back while this sink's own
   * record calls for it are on their way (see Recorder).
   */
  serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#lane.then(step, step);
    this.#lane = run.catch(() => {});
    return run;
  }

  /**
   * BatchStart: false (nothing done) for a batch this sink saw done, and for one it must not
   * open: durable, a batch the ledger does not know (the ventilator opens every batch there
   * before it sends BatchStart, so only a rogue or confused peer sends one), or any new batch
   * while `maxOpenBatches` are open. Either way nothing is opened, so BatchStarts sent by the
   * thousand cannot fill the book and stop the batches that are real.
   */
  async begin(batch: string): Promise<boolean> {
    if (this.#done.has(batch)) return false;
    if (!this.#folds.has(batch)) {
      if (this.#o.ledger.durable && !(await this.#o.ledger.knows(batch))) {
        this.#n.unknownBatch?.(`BatchStart of batch ${batch}, which the ledger does not know`);
        return false;
      }
      if (this.#folds.size >= this.#o.maxOpenBatches) {
        this.#o.logger.error({ batch, open: this.#folds.size }, 'BatchStart dropped: too many open batches');
        return false;
      }
    }
    await this.#o.ledger.begin(batch);
    await this.fold(batch);
    return true;
  }

  /** BatchEnd: the batch has `jobs` jobs; it may be complete now. One the ledger does not know is dropped. */
  async end(batch: string, jobs: number): Promise<void> {
    if (this.#done.has(batch)) return;
    if (!this.#folds.has(batch) && !(await this.#o.ledger.knows(batch))) {
      this.#n.unknownBatch?.(`BatchEnd of batch ${batch}, which was never started`);
      return;
    }
    const fold = await this.fold(batch);
    const counts = await this.#o.ledger.setTotal(batch, jobs);
    await this.afterRecording(fold, counts, Date.now());
  }

  /** Folds a result in; a promise only when the pipeline's collect is asynchronous. */
  collect(fold: BatchFold, seq: number, value: unknown, worker: string): void | Promise<void> {
    try {
      const done = fold.collect(seq, value, worker);
      if (done) return done.catch((error: unknown) => this.#collectThrew(fold, seq, error));
    } catch (error) {
      this.#collectThrew(fold, seq, error);
    }
  }

  /**
   * The batch's counts after a recording: completes it when every job is done (the promise
   * resolves once it is), or publishes progress.
   */
  async afterRecording(fold: BatchFold, counts: BatchCounts, now: number, readBackThisRound = false): Promise<void> {
    // A fold read back during this round holds later calls of the round than `counts` does: it
    // is the ledger's own. Called inside a record round (the lane): a refold waits its turn.
    if (!readBackThisRound && this.#lostResults(fold, counts)) await this.#refoldLater(fold);
    this.#openCounts.set(fold.id, counts);
    if (isComplete(counts)) {
      await this.#completeOnce(fold, counts, now);
    } else if (now - fold.lastProgressAt >= this.#o.progressEveryMs) {
      fold.lastProgressAt = now;
      this.#n.publish(
        encode({ type: 'BatchProgress', batch: fold.id, pipeline: fold.pipeline.name, done: counts.done, failed: counts.failed, total: counts.total }),
      );
    }
  }

  /** Resolves once the completions under way have ended (a stopping sink waits for them). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#completing.values()]);
  }

  /** Durable only: completes batches whose last job became a dead letter at the ventilator, or whose events this sink missed. */
  async reconcile(): Promise<void> {
    const { ledger, pipeline } = this.#o;
    for (const batch of await ledger.activeBatches(pipeline.name)) {
      const counts = await ledger.counts(batch);
      if (counts && isComplete(counts))
        await this.serially(async () => {
          // Read again in the lane: a record round may have folded more since.
          const latest = (await ledger.counts(batch)) ?? counts;
          const fold = await this.fold(batch);
          if (this.#lostResults(fold, latest)) await this.#refoldInPlace(fold, latest);
          return this.#completeOnce(fold, latest, Date.now());
        });
    }
  }

  /** Every open fold checked against the ledger's counts (Redis went back in time), each in its turn in the lane. */
  async checkFolds(): Promise<void> {
    const folds = await Promise.allSettled([...this.#folds.values()]);
    await Promise.allSettled(folds.map((fold) => (fold.status === 'fulfilled' ? this.#refoldLater(fold.value) : undefined)));
  }

  /**
   * Durable: the fold holds more successful results than the ledger has recorded. Redis went
   * back in time (a failover to a replica that lagged, an older snapshot) and lost records this
   * sink had folded; those jobs run again (the ventilator's BatchRepair, or their leases) and
   * would be folded twice. Only a fold read again from the ledger is right.
   */
  #lostResults(fold: BatchFold, counts: BatchCounts): boolean {
    return fold.stale || (this.#o.ledger.durable && !counts.cancelledAt && fold.folded > counts.done - counts.failed - (counts.cancelled ?? 0));
  }

  /**
   * Refolds in the lane, once per batch however many rounds find the fold ahead, if the ledger's
   * counts read there agree: in the lane every round before has folded what it recorded, so a
   * fold ahead of the ledger then is a loss, not a reply older than the fold.
   */
  #refoldLater(fold: BatchFold): Promise<void> {
    let refolding = this.#refolding.get(fold.id);
    if (!refolding) {
      refolding = this.serially(async () => {
        const counts = await this.#o.ledger.counts(fold.id);
        if (counts && this.#lostResults(fold, counts)) await this.#refoldInPlace(fold, counts);
      }).finally(() => this.#refolding.delete(fold.id));
      this.#refolding.set(fold.id, refolding);
    }
    return refolding;
  }

  /**
   * The same fold object (record rounds and completions hold it), folded afresh from the ledger:
   * Redis lost results it held, or results made up for seqs past the batch's end left the ledger
   * when the total was written (`counts.pastEnd` grew since the last refold).
   */
  async #refoldInPlace(fold: BatchFold, counts: BatchCounts): Promise<void> {
    const { ledger, logger, metrics, pipeline } = this.#o;
    const folded = fold.folded;
    fold.stale = true;
    fold.reset();
    const inLedger = await ledger.forEachResult(fold.id, (seq, value) => this.collect(fold, seq, value, 'ledger'));
    fold.stale = false;
    const pastEnd = counts.pastEnd ?? 0;
    if (pastEnd > fold.pastEndSeen) {
      fold.pastEndSeen = pastEnd;
      logger.warn(
        { batch: fold.id, folded, inLedger },
        'results past the end of the batch (a rogue or confused peer sent them) left the ledger: folded the batch again from it',
      );
      return;
    }
    metrics.ledgerRepairs.inc({ pipeline: pipeline.name, kind: 'refold' });
    logger.warn({ batch: fold.id, folded, inLedger }, 'Redis lost results this sink had folded: folded the batch again from the ledger');
  }

  /**
   * Completes the batch, or joins its completion under way: one summary, one BatchCompleted. Its
   * fold is whole by now (every result the counts include was folded first, see Recorder), so
   * it may run beside the next record rounds, which can bring it nothing more.
   */
  #completeOnce(fold: BatchFold, counts: BatchCounts, now: number): Promise<void> {
    let completing = this.#completing.get(fold.id);
    if (!completing) {
      completing = this.#complete(fold, counts, now).finally(() => this.#completing.delete(fold.id));
      this.#completing.set(fold.id, completing);
    }
    return completing;
  }

  async #refold(batch: string): Promise<BatchFold> {
    const fold = new BatchFold(batch, this.#o.pipeline);
    const count = await this.#o.ledger.forEachResult(batch, (seq, value) => this.collect(fold, seq, value, 'ledger'));
    this.#o.logger.info({ batch, refolded: count }, 'batch opened');
    return fold;
  }

  async #complete(fold: BatchFold, counts: BatchCounts, now: number): Promise<void> {
    const { ledger, logger, metrics } = this.#o;
    const { summary, answerError } = fold.summarize(counts, await ledger.perWorker(fold.id), now);
    if (answerError !== undefined) logger.error({ batch: fold.id, err: answerError }, 'summarize threw; the summary has no answer');
    const won = await ledger.complete(fold.id, fold.pipeline.name, summary);
    this.#folds.delete(fold.id);
    this.#openCounts.delete(fold.id);
    this.#done.add(fold.id);
    if (this.#done.size > this.#o.doneBatchesKept) this.#done.delete(this.#done.values().next().value!);
    if (!won) return;
    ledger.forget(fold.id);
    metrics.batchesCompleted.inc({ pipeline: fold.pipeline.name });
    if (counts.cancelledAt) metrics.batchesCancelled.inc({ pipeline: fold.pipeline.name });
    if (summary.cancelled) metrics.jobsCancelled.inc({ pipeline: fold.pipeline.name }, summary.cancelled);
    logger.info({ batch: fold.id, summary }, 'batch completed');
    this.#n.publish(
      encode({ type: 'BatchProgress', batch: fold.id, pipeline: fold.pipeline.name, done: counts.done, failed: counts.failed, total: counts.total }),
    );
    // The ventilator hears of the last jobs before it hears of the batch's end.
    this.#n.flushAcks();
    this.#n.publish(encode({ type: 'BatchCompleted', summary }));
  }

  #collectThrew(fold: BatchFold, seq: number, error: unknown): void {
    this.#o.logger.error({ batch: fold.id, job: `${fold.id}:${seq}`, err: error }, 'collect threw; the result is recorded but not folded in');
  }
}

/** Every job has a result, is a dead letter or was cancelled; or the whole batch was cancelled. */
function isComplete(counts: BatchCounts): boolean {
  return Boolean(counts.cancelledAt) || (counts.total !== null && counts.done >= counts.total);
}
