import type { InFlightJob, PendingJob } from '@jobpipe/ledger';
import { Signal } from '@jobpipe/transport';
import { bytesOf, FreshQueues, jobBytes, removeWhere, type ByteCount } from './fresh-queues.js';
import { InFlight } from './in-flight.js';

/** Jobs the reaper takes while the payloads' size is unknown, when bytes are bounded. */
const FIRST_REAP_JOBS = 16;

/** How much a ventilator holds at most (see Backlog). */
export interface BacklogLimits {
  /** Jobs out at most (JOBPIPE_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** Payload bytes held at most (JOBPIPE_MAX_IN_FLIGHT_BYTES). @default no bound */
  maxInFlightBytes?: number;
  /**
   * Fresh jobs, and their payload bytes, a batch may still queue while the backlog is full (see
   * `mayAdd`): its share of the bounds among the batches that may be open at once. @default the bounds
   */
  shareWhenFull?: number;
  shareBytesWhenFull?: number;
  /** Whether jobs in flight keep their payloads (only the memory ledger sends them again from here). @default true */
  keepsPayloads?: boolean;
}

/**
 * What is out: every job this ventilator has taken, from a split or back from the ledger, and not
 * yet seen recorded. It waits in a queue, is being written ahead, or is in flight. This is the one
 * place that counts them, in jobs and in payload bytes; the splitter pauses on `full`, the reaper
 * takes no more than `reapRoom`. Kept per ventilator, so jobs of several batches share one bound.
 */
export class Backlog {
  /** Jobs from the splits not yet dispatched, a queue per batch; bounded, so a huge split is streamed. */
  readonly fresh = new FreshQueues();
  /** Jobs back from the ledger (lease ran out, retry due, worker gone): they go before fresh ones. */
  readonly redeliveries: PendingJob[] = [];
  /** The payload bytes of redeliveries and suspects. */
  readonly cameBack: ByteCount = { bytes: 0 };
  /** Jobs dispatched and not yet recorded, by worker session. */
  readonly inFlight: InFlight;
  /** Jobs packed and being written ahead: out of every queue, not yet in flight. */
  admitting = 0;
  /** Their payload bytes. */
  admittingBytes = 0;
  /** Of them, per batch: BatchRepair waits while a batch has jobs here. */
  readonly #admittingByBatch = new Map<string, number>();
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;
  readonly #shareWhenFull: number;
  readonly #shareBytesWhenFull: number;
  /** The most payload bytes held at once so far (seen as jobs came in). */
  peakBytes = 0;
  /** A recent job's payload bytes, averaged: how many jobs the reaper may take for the bytes free. */
  #typicalJobBytes = 0;
  /** Batches cancelled whole, and jobs cancelled one by one, until their batch completes (`forgetCancels`). */
  readonly #cancelledBatches = new Set<string>();
  readonly #cancelledJobs = new Map<string, Set<number>>();
  /** Something to send came, or a worker got credit: wakes the dispatcher. */
  readonly changed = new Signal();
  /** Fewer jobs are out: wakes a paused split. */
  readonly room = new Signal();

  constructor(
    limits: BacklogLimits,
    /** Suspects waiting for an idle worker: Isolation's queue (isolation.ts). */
    readonly suspects: PendingJob[],
  ) {
    this.maxInFlight = limits.maxInFlight;
    this.maxInFlightBytes = limits.maxInFlightBytes ?? Number.POSITIVE_INFINITY;
    this.#shareWhenFull = limits.shareWhenFull ?? this.maxInFlight;
    this.#shareBytesWhenFull = limits.shareBytesWhenFull ?? this.maxInFlightBytes;
    this.inFlight = new InFlight(limits.keepsPayloads ?? true);
  }

  /** A pack of `batch` is being written ahead. */
  startAdmitting(batch: string, jobs: number, bytes: number): void {
    this.admitting += jobs;
    this.admittingBytes += bytes;
    this.#admittingByBatch.set(batch, (this.#admittingByBatch.get(batch) ?? 0) + jobs);
  }

  /** Its write-ahead is over, done or failed. */
  endAdmitting(batch: string, jobs: number, bytes: number): void {
    this.admitting -= jobs;
    this.admittingBytes -= bytes;
    const left = (this.#admittingByBatch.get(batch) ?? 0) - jobs;
    if (left > 0) this.#admittingByBatch.set(batch, left);
    else this.#admittingByBatch.delete(batch);
  }

  /** Whether jobs of `batch` wait here, split or added, or being written ahead: not in the ledger yet. */
  holdsUnwritten(batch: string): boolean {
    return this.fresh.queued(batch) > 0 || this.#admittingByBatch.has(batch);
  }

  /** Jobs waiting for a worker: fresh, to be sent again, and suspects. */
  get jobsWaiting(): number {
    return this.fresh.length + this.redeliveries.length + this.suspects.length;
  }

  /** Every job out: queued, being written ahead or in flight. */
  get out(): number {
    return this.admitting + this.inFlight.size + this.jobsWaiting;
  }

  /** The payload bytes this ventilator holds: of the jobs queued, being written ahead, and in flight when kept there. */
  get bytes(): number {
    return this.fresh.bytes + this.cameBack.bytes + this.admittingBytes + this.inFlight.bytes;
  }

  /**
   * The split pauses here: it splits ahead up to maxInFlight jobs or maxInFlightBytes of
   * payloads, so memory stays bounded and a batch's size is known as early as it can be
   * (progress and ETA need it). One job larger than the byte bound still goes, alone.
   */
  get full(): boolean {
    return this.out >= this.maxInFlight || this.bytes >= this.maxInFlightBytes;
  }

  /**
   * Whether `batch`'s split may add a job now. While the backlog is full a batch may still queue
   * up to its share of jobs, and hold up to its share of payload bytes (queued and in flight): a
   * large batch keeps the backlog full, and without a share a small batch split beside it would
   * wait for room that the large one takes first. So at most the bounds plus a share per open
   * batch are held: twice the bounds when every batch that may be open is. The jobs and bytes a
   * batch has in flight count toward its share, or a batch alone would add a share whenever its
   * queue ran dry, past the bounds by as much as the workers' credit (seen: 1,500 jobs out with
   * JOBPIPE_MAX_IN_FLIGHT at 50; payloads are kept in flight only with persistence off).
   */
  mayAdd(batch: string): boolean {
    if (this.#cancelledBatches.size > 0 && this.#cancelledBatches.has(batch)) return false;
    if (!this.full) return true;
    return (
      this.fresh.queued(batch) + this.inFlight.countOf(batch) < this.#shareWhenFull &&
      this.fresh.queuedBytes(batch) + this.inFlight.bytesOf(batch) < this.#shareBytesWhenFull
    );
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
    for (const queue of [this.redeliveries, this.suspects]) dropped += removeWhere(queue, picked, this.cameBack);
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
   * sent again, and their bytes (the payloads it would take are guessed at the typical job's
   * size; at least one is taken while any bytes are free); fresh jobs and packs being written
   * ahead are not counted.
   */
  reapRoom(): number {
    const jobs = Math.max(0, this.maxInFlight - this.inFlight.size - this.redeliveries.length - this.suspects.length);
    if (this.maxInFlightBytes === Number.POSITIVE_INFINITY) return jobs;
    const bytesFree = this.maxInFlightBytes - this.inFlight.bytes - this.cameBack.bytes;
    if (bytesFree <= 0) return 0;
    // No job seen yet (a ventilator that restarted): a few, until their size is known.
    if (this.#typicalJobBytes === 0) return Math.min(jobs, FIRST_REAP_JOBS);
    return Math.min(jobs, Math.max(1, Math.floor(bytesFree / Math.max(1, this.#typicalJobBytes))));
  }

  /** A fresh job from the split. */
  addFresh(job: PendingJob): void {
    this.fresh.push(job);
    this.#sawJob(job);
    this.changed.notify();
  }

  /** Fresh jobs, of splits or single jobs. */
  addFreshJobs(jobs: readonly PendingJob[]): void {
    for (const job of jobs) {
      this.fresh.push(job);
      this.#sawJob(job);
    }
    this.changed.notify();
  }

  /** Jobs back from the ledger: suspects wait for an idle worker, the others go first in line. */
  comeBack(jobs: PendingJob[]): void {
    for (const job of jobs) (job.suspect ? this.suspects : this.redeliveries).push(job);
    this.cameBack.bytes += bytesOf(jobs);
    for (const job of jobs) this.#sawJob(job);
    this.changed.notify();
  }

  // An average over the last few hundred jobs: cheap, and it follows a batch whose payloads grow.
  // Also where the peak is taken: bytes are held only by jobs that came in.
  #sawJob(job: PendingJob): void {
    const held = this.bytes;
    if (held > this.peakBytes) this.peakBytes = held;
    const bytes = Math.max(1, jobBytes(job));
    this.#typicalJobBytes += this.#typicalJobBytes === 0 ? bytes : (bytes - this.#typicalJobBytes) / 256;
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
