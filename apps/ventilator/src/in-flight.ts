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
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(job: PendingJob, dispatchedAt: number, worker: string): void {
    let batch = this.#batches.get(job.batch);
    if (!batch) this.#batches.set(job.batch, (batch = new Map()));
    if (!batch.delete(job.seq)) this.#size++;
    batch.set(job.seq, { job, dispatchedAt, worker });
  }

  /** Removes a recorded job; false when it was not in flight (already recorded or requeued). */
  remove(batchId: string, seq: number): boolean {
    const batch = this.#batches.get(batchId);
    if (!batch?.delete(seq)) return false;
    this.#size--;
    if (batch.size === 0) this.#batches.delete(batchId);
    return true;
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
