import type { InFlightJob, PendingJob } from '@jobpipe/ledger';
import { Signal } from '@jobpipe/transport';
import { FreshQueues, removeWhere } from './fresh-queues.js';
import { InFlight } from './in-flight.js';

/**
 * What is out: every job this ventilator has taken, from a split or back from the ledger, and not
 * yet seen recorded. It waits in a queue, is being written ahead, or is in flight. This is the one
 * place that counts them; the splitter pauses on `full`, the reaper takes no more than `reapRoom`.
 * Kept per ventilator, so jobs of several batches share one bound.
 */
export class Backlog {
  /** Jobs from the splits not yet dispatched, a queue per batch; bounded, so a huge split is streamed. */
  readonly fresh = new FreshQueues();
  /** Jobs back from the ledger (lease ran out, retry due, worker gone): they go before fresh ones. */
  readonly redeliveries: PendingJob[] = [];
  /** Jobs dispatched and not yet recorded, by worker session. */
  readonly inFlight = new InFlight();
  /** Jobs packed and being written ahead: out of every queue, not yet in flight. */
  admitting = 0;
  /** Batches cancelled whole, and jobs cancelled one by one, until their batch completes (`forgetCancels`). */
  readonly #cancelledBatches = new Set<string>();
  readonly #cancelledJobs = new Map<string, Set<number>>();
  /** Something to send came, or a worker got credit: wakes the dispatcher. */
  readonly changed = new Signal();
  /** Fewer jobs are out: wakes a paused split. */
  readonly room = new Signal();

  constructor(
    readonly maxInFlight: number,
    /** Suspects waiting for an idle worker: Isolation's queue (isolation.ts). */
    readonly suspects: PendingJob[],
    /**
     * Fresh jobs a batch may still queue while the backlog is full (see `mayAdd`): its share of
     * maxInFlight among the batches that may be open at once.
     */
    readonly shareWhenFull = maxInFlight,
  ) {}

  /** Every job out: queued, being written ahead or in flight. */
  get out(): number {
    return this.admitting + this.inFlight.size + this.fresh.length + this.redeliveries.length + this.suspects.length;
  }

  /**
   * The split pauses here: it splits ahead up to maxInFlight jobs, so memory stays bounded and a
   * batch's size is known as early as it can be (progress and ETA need it).
   */
  get full(): boolean {
    return this.out >= this.maxInFlight;
  }

  /**
   * Whether `batch`'s split may add a job now. While the backlog is full a batch may still queue
   * up to its share (`shareWhenFull`): a large batch keeps the backlog full, and without a share a
   * small batch split beside it would wait for room that the large one takes first. So at most
   * maxInFlight jobs plus a share per open batch are held: 2 x maxInFlight when every batch that
   * may be open is.
   */
  mayAdd(batch: string): boolean {
    if (this.#cancelledBatches.size > 0 && this.#cancelledBatches.has(batch)) return false;
    return !this.full || this.fresh.queued(batch) < this.shareWhenFull;
  }

  /**
   * A batch (no `seqs`) or jobs of it were cancelled: what waits here of them is dropped, and
   * none of them is sent from now on (`isCancelled`), even one being written ahead. Returns how
   * many waiting jobs were dropped.
   */
  cancel(batch: string, seqs?: readonly number[]): number {
    let wanted: Set<number> | undefined;
    if (seqs) {
      wanted = this.#cancelledJobs.get(batch);
      if (!wanted) this.#cancelledJobs.set(batch, (wanted = new Set()));
      for (const seq of seqs) wanted.add(seq);
    } else this.#cancelledBatches.add(batch);
    const picked = (job: PendingJob) => job.batch === batch && (wanted === undefined || wanted.has(job.seq));
    let dropped = this.fresh.drop(batch, wanted);
    for (const queue of [this.redeliveries, this.suspects]) dropped += removeWhere(queue, picked);
    // A split waiting for room finds its batch cancelled.
    this.room.notify();
    return dropped;
  }

  /** Whether a job of `batch` was cancelled (`cancel`), or undefined when none of it was: asked once per pack. */
  cancelledIn(batch: string): ((seq: number) => boolean) | undefined {
    if (this.#cancelledBatches.has(batch)) return () => true;
    const seqs = this.#cancelledJobs.get(batch);
    return seqs && ((seq) => seqs.has(seq));
  }

  /** Whether the job was cancelled: it must not be sent. */
  isCancelled(batch: string, seq: number): boolean {
    return this.cancelledIn(batch)?.(seq) === true;
  }

  /** Whether the whole batch was cancelled. */
  isBatchCancelled(batch: string): boolean {
    return this.#cancelledBatches.has(batch);
  }

  /** The batch is done: what was cancelled of it needs no more checking. */
  forgetCancels(batch: string): void {
    this.#cancelledBatches.delete(batch);
    this.#cancelledJobs.delete(batch);
  }

  /** Jobs back from the ledger, waiting to be sent (their reservations need renewing). */
  waiting(): PendingJob[] {
    return [...this.redeliveries, ...this.suspects];
  }

  /**
   * How many jobs the reaper may take from the ledger now: no more than can go out soon, since a
   * taken job's reservation runs while it waits. Counts jobs in flight and jobs waiting to be
   * sent again; fresh jobs and packs being written ahead are not counted.
   */
  reapRoom(): number {
    return Math.max(0, this.maxInFlight - this.inFlight.size - this.redeliveries.length - this.suspects.length);
  }

  /** A fresh job from the split. */
  addFresh(job: PendingJob): void {
    this.fresh.push(job);
    this.changed.notify();
  }

  /** Jobs back from the ledger: suspects wait for an idle worker, the others go first in line. */
  comeBack(jobs: PendingJob[]): void {
    for (const job of jobs) (job.suspect ? this.suspects : this.redeliveries).push(job);
    this.changed.notify();
  }

  /** The sink recorded these jobs. */
  recorded(batch: string, seqs: number[]): void {
    let removed = 0;
    for (const seq of seqs) if (this.inFlight.remove(batch, seq)) removed++;
    if (removed === 0) return;
    this.room.notify();
    // A worker may have become idle: a waiting suspect can go to it.
    if (this.suspects.length > 0) this.changed.notify();
  }

  /** A worker session is gone: its jobs leave the in-flight count and are returned (for the ledger to release). */
  takeHeldBy(worker: string): InFlightJob[] {
    const held = this.inFlight.takeHeldBy(worker);
    this.inFlight.forget(worker);
    return held;
  }

  /** A drained session left: its jobs stay counted under their leases; returns how many it held. */
  forgetHolder(worker: string): number {
    const held = this.inFlight.heldBy(worker);
    this.inFlight.forget(worker);
    return held;
  }
}
