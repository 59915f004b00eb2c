import type { InFlightJob, LocalInFlight, PendingJob } from '@jobpipe/ledger';
import { jobBytes } from './fresh-queues.js';

/** Jobs one worker session holds: entries point at it, so a removal needs no lookup by name. */
interface Holder {
  held: number;
}

type Entry = InFlightJob & { holder: Holder };

/**
 * Jobs this ventilator dispatched and has not yet seen recorded by the sink, in memory. Kept per
 * batch in maps keyed by sequence number (no per-job id strings); Map order is dispatch order, so
 * lease checks stop at the first job still within its lease.
 *
 * A durable ledger holds every payload in Redis and sends a job again from there, so with one
 * (`keepsPayloads` false) an entry keeps the job without its payload: what is in flight then
 * weighs a few dozen bytes a job, whatever the payload size.
 */
export class InFlight implements LocalInFlight {
  readonly #batches = new Map<string, Map<number, Entry>>();
  /** Payload bytes held per batch (only batches with some). */
  readonly #batchBytes = new Map<string, number>();
  readonly #holders = new Map<string, Holder>();
  // The jobs of one message share a worker: its holder is looked up once, not per job.
  #lastWorker: string | undefined;
  #lastHolder: Holder | undefined;
  #size = 0;
  #bytes = 0;

  constructor(private readonly keepsPayloads = true) {}

  get size(): number {
    return this.#size;
  }

  /** The payload bytes these jobs hold here (jobBytes): 0 when payloads are not kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Jobs of `batch` in flight. */
  countOf(batch: string): number {
    return this.#batches.get(batch)?.size ?? 0;
  }

  /** Their payload bytes held here. */
  bytesOf(batch: string): number {
    return this.#batchBytes.get(batch) ?? 0;
  }

  #addBytes(batch: string, bytes: number): void {
    if (bytes === 0) return;
    this.#bytes += bytes;
    const left = (this.#batchBytes.get(batch) ?? 0) + bytes;
    if (left === 0) this.#batchBytes.delete(batch);
    else this.#batchBytes.set(batch, left);
  }

  /** How many of these jobs a worker session holds. */
  heldBy(worker: string): number {
    return this.#holders.get(worker)?.held ?? 0;
  }

  add(sent: PendingJob, dispatchedAt: number, worker: string): void {
    const job = this.keepsPayloads ? sent : { batch: sent.batch, seq: sent.seq, attempt: sent.attempt, payloadJson: '' };
    let batch = this.#batches.get(job.batch);
    if (!batch) this.#batches.set(job.batch, (batch = new Map()));
    const previous = batch.get(job.seq);
    if (previous === undefined) {
      this.#size++;
    } else {
      batch.delete(job.seq);
      previous.holder.held--;
      this.#addBytes(job.batch, -jobBytes(previous.job));
    }
    this.#addBytes(job.batch, jobBytes(job));
    let holder = this.#lastHolder;
    if (worker !== this.#lastWorker || holder === undefined) {
      holder = this.#holders.get(worker);
      if (!holder) this.#holders.set(worker, (holder = { held: 0 }));
      this.#lastWorker = worker;
      this.#lastHolder = holder;
    }
    holder.held++;
    batch.set(job.seq, { job, dispatchedAt, worker, holder });
  }

  /** Removes a recorded job; false when it was not in flight (already recorded or requeued). */
  remove(batchId: string, seq: number): boolean {
    const batch = this.#batches.get(batchId);
    const entry = batch?.get(seq);
    if (entry === undefined) return false;
    batch!.delete(seq);
    entry.holder.held--;
    this.#size--;
    this.#addBytes(batchId, -jobBytes(entry.job));
    if (batch!.size === 0) this.#batches.delete(batchId);
    return true;
  }

  /** A worker session is gone for good: forget its count (its jobs are taken with takeHeldBy). */
  forget(worker: string): void {
    this.#holders.delete(worker);
    if (this.#lastWorker === worker) this.#lastWorker = this.#lastHolder = undefined;
  }

  /** Removes and returns the jobs a worker session holds. */
  takeHeldBy(worker: string): InFlightJob[] {
    const taken: InFlightJob[] = [];
    if (this.heldBy(worker) === 0) return taken;
    for (const [batchId, batch] of this.#batches) {
      for (const [seq, entry] of batch) {
        if (entry.worker === worker) {
          taken.push(entry);
          this.remove(batchId, seq);
        }
      }
    }
    return taken;
  }

  /** Removes and returns the jobs dispatched at or before `dispatchedBefore` (epoch ms), at most `limit`. */
  takeExpired(dispatchedBefore: number, limit = Infinity): InFlightJob[] {
    const taken: InFlightJob[] = [];
    for (const [batchId, batch] of this.#batches) {
      for (const [seq, entry] of batch) {
        if (entry.dispatchedAt > dispatchedBefore || taken.length >= limit) break;
        taken.push(entry);
        this.remove(batchId, seq);
      }
    }
    return taken;
  }
}
