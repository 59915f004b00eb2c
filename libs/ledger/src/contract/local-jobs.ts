import type { InFlightJob, LocalInFlight, PendingJob } from '../dispatch-ledger.js';

/**
 * The ventilator's own map of what it sent (its InFlight, which a lib cannot import), as far as
 * the ledger sees it: per batch in dispatch order, a job sent again moving to the end, expiry
 * stopping at the first job still within its lease.
 */
export class LocalJobs implements LocalInFlight {
  readonly #batches = new Map<string, Map<number, InFlightJob>>();

  get size(): number {
    let size = 0;
    for (const batch of this.#batches.values()) size += batch.size;
    return size;
  }

  add(job: PendingJob, dispatchedAt: number, worker: string): void {
    let batch = this.#batches.get(job.batch);
    if (!batch) this.#batches.set(job.batch, (batch = new Map()));
    batch.delete(job.seq);
    batch.set(job.seq, { job, dispatchedAt, worker });
  }

  /** The sink's Recorded ack. */
  remove(batchId: string, seq: number): void {
    this.#batches.get(batchId)?.delete(seq);
  }

  takeHeldBy(worker: string): InFlightJob[] {
    const taken: InFlightJob[] = [];
    for (const batch of this.#batches.values()) {
      for (const [seq, entry] of batch) {
        if (entry.worker !== worker) continue;
        taken.push(entry);
        batch.delete(seq);
      }
    }
    return taken;
  }

  takeExpired(dispatchedBefore: number, limit = Infinity): InFlightJob[] {
    const taken: InFlightJob[] = [];
    for (const batch of this.#batches.values()) {
      for (const [seq, entry] of batch) {
        if (entry.dispatchedAt > dispatchedBefore || taken.length >= limit) break;
        taken.push(entry);
        batch.delete(seq);
      }
    }
    return taken;
  }
}
