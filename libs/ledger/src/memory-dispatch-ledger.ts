import type { DispatchLedger, InFlightJob, LocalInFlight, Requeue } from './dispatch-ledger.js';

export interface MemoryDispatchLedgerOptions {
  /** A job with no recorded result this long after it left is sent again, in ms (JOBPIPE_LEASE_MS). */
  leaseMs: number;
  /** Deliveries of a job before it becomes a dead letter (JOBPIPE_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** The time, in epoch ms. @default Date.now */
  clock?: () => number;
}

/**
 * Persistence off: the ventilator's memory is the ledger, and its `InFlight` map holds the
 * leases. A ventilator crash loses its batch. What it cannot do without a ledger shared with the
 * sink (each is held to it by the contract suite, src/contract):
 * - nothing is resumed: `begin` never finds a batch, `keepNew` keeps every job, `doneSummary` is
 *   null (the ventilator hears of a done batch by the sink's event);
 * - `admit` skips nothing: a redelivery whose late result was recorded while it waited is sent
 *   once more, and the sink drops that second result as a duplicate;
 * - dead letters are `deadToReport`: the ventilator reports them to the sink as failed results;
 * - a job taken by `due` is out of the map until it is sent again, so `hold` has nothing to do.
 */
export class MemoryDispatchLedger implements DispatchLedger {
  readonly durable = false;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #clock: () => number;

  constructor(options: MemoryDispatchLedgerOptions) {
    this.#leaseMs = options.leaseMs;
    this.#maxAttempts = options.maxAttempts;
    this.#clock = options.clock ?? Date.now;
  }

  async begin() {
    return { resumed: false, summary: null };
  }
  async keepNew(_batch: string, seqs: number[]) {
    return seqs;
  }
  // The memory result ledger lives in the sink: it drops results past the end itself.
  async end() {
    return 0;
  }
  async admit(): Promise<number[]> {
    return [];
  }
  async doneSummary() {
    return null;
  }
  async account() {
    return undefined;
  }
  async cutPastLeases() {
    return 0;
  }
  async hold() {}

  async release(held: InFlightJob[]): Promise<Requeue> {
    return this.#requeue(held);
  }

  // Every job due is a local one: each comes back in its own place, so `limit` does not apply.
  async due(local: LocalInFlight): Promise<Requeue> {
    return this.#requeue(local.takeExpired(this.#clock() - this.#leaseMs));
  }

  #requeue(jobs: InFlightJob[]): Requeue {
    const requeue: Requeue = { redeliver: [], deadToReport: [], deadLettered: 0 };
    for (const entry of jobs) {
      if (entry.job.attempt >= this.#maxAttempts) requeue.deadToReport.push(entry);
      // Without retries, every job that comes back here was lost with its worker or its lease.
      else requeue.redeliver.push({ ...entry.job, attempt: entry.job.attempt + 1, suspect: true });
    }
    requeue.deadLettered = requeue.deadToReport.length;
    return requeue;
  }
}
