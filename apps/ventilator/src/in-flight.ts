import type { PendingJob } from './dispatch-ledger.js';

/** A job this process dispatched and has not seen recorded: which worker session holds it, since when. */
export interface InFlightJob {
  job: PendingJob;
  dispatchedAt: number;
  worker: string;
}

/**
 * Jobs this ventilator dispatched and has not yet seen recorded by the sink, in memory. Kept per
 * batch in maps keyed by sequence number (no per-job id strings); Map order is dispatch order, so
 * lease checks stop at the first job still within its lease.
 */
export class InFlight {
  readonly #batches = new Map<string, Map<number, InFlightJob>>();
  /** Jobs held per worker session. */
  readonly #held = new Map<string, number>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** How many of these jobs a worker session holds. */
  heldBy(worker: string): number {
    return this.#held.get(worker) ?? 0;
  }

  add(job: PendingJob, dispatchedAt: number, worker: string): void {
    let batch = this.#batches.get(job.batch);
    if (!batch) this.#batches.set(job.batch, (batch = new Map()));
    const previous = batch.get(job.seq);
    if (previous) {
      batch.delete(job.seq);
      this.#release(previous.worker);
    } else {
      this.#size++;
    }
    batch.set(job.seq, { job, dispatchedAt, worker });
    this.#held.set(worker, this.heldBy(worker) + 1);
  }

  /** Removes a recorded job; false when it was not in flight (already recorded or requeued). */
  remove(batchId: string, seq: number): boolean {
    const batch = this.#batches.get(batchId);
    const entry = batch?.get(seq);
    if (!entry) return false;
    batch!.delete(seq);
    this.#size--;
    this.#release(entry.worker);
    if (batch!.size === 0) this.#batches.delete(batchId);
    return true;
  }

  #release(worker: string): void {
    const held = this.heldBy(worker) - 1;
    if (held > 0) this.#held.set(worker, held);
    else this.#held.delete(worker);
  }

  /** Removes and returns the jobs a worker session holds. */
  takeHeldBy(worker: string): InFlightJob[] {
    const taken: InFlightJob[] = [];
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

  /** Removes and returns the jobs dispatched at or before `dispatchedBefore` (epoch ms). */
  takeExpired(dispatchedBefore: number): InFlightJob[] {
    const taken: InFlightJob[] = [];
    for (const [batchId, batch] of this.#batches) {
      for (const [seq, entry] of batch) {
        if (entry.dispatchedAt > dispatchedBefore) break;
        taken.push(entry);
        this.remove(batchId, seq);
      }
    }
    return taken;
  }
}
