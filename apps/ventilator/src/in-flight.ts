import type { Job } from '@jobpipe/protocol';

/** A dispatched job: which worker session holds it and when it left. */
export interface InFlightJob {
  job: Job;
  worker: string;
}

/**
 * Jobs dispatched and not yet recorded by the sink, in memory. Kept per batch in maps keyed by
 * sequence number (no per-job id strings); Map order is dispatch order, so lease checks stop at
 * the first job still within its lease.
 */
export class InFlight {
  readonly #batches = new Map<string, Map<number, InFlightJob>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(job: Job, worker: string): void {
    let batch = this.#batches.get(job.batch);
    if (!batch) this.#batches.set(job.batch, (batch = new Map()));
    if (!batch.has(job.seq)) this.#size++;
    batch.delete(job.seq);
    batch.set(job.seq, { job, worker });
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
  takeHeldBy(worker: string): Job[] {
    const taken: Job[] = [];
    for (const [batchId, batch] of this.#batches) {
      for (const [seq, entry] of batch) {
        if (entry.worker === worker) {
          taken.push(entry.job);
          this.remove(batchId, seq);
        }
      }
    }
    return taken;
  }

  /** Removes and returns the jobs dispatched at or before `dispatchedBefore` (epoch ms). */
  takeExpired(dispatchedBefore: number): Job[] {
    const taken: Job[] = [];
    for (const [batchId, batch] of this.#batches) {
      for (const [seq, entry] of batch) {
        if (entry.job.dispatchedAt > dispatchedBefore) break;
        taken.push(entry.job);
        this.remove(batchId, seq);
      }
    }
    return taken;
  }
}
