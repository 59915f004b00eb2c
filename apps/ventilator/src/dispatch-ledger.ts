import type { BatchSummary } from '@jobpipe/protocol';
import type { LedgerJob, RedisLedger } from '@jobpipe/ledger';
import type { InFlight, InFlightJob } from './in-flight.js';

/** A job waiting to be dispatched. Its payload is JSON text from the split on, stringified once. */
export interface PendingJob extends LedgerJob {
  batch: string;
  /** Its last delivery ended without a result: it is sent alone (see isolation.ts). */
  suspect?: boolean;
  /** Taken by `due`: its reservation in the ledger runs until then (epoch ms). */
  heldUntil?: number;
}

/** Jobs to send again, and jobs that ran out of attempts. */
export interface Requeue {
  redeliver: PendingJob[];
  /** Jobs the ventilator must report to the sink as dead letters (the memory ledger only). */
  deadToReport: InFlightJob[];
  /** Jobs that became dead letters, for the metric. */
  deadLettered: number;
}

/**
 * Where the ventilator keeps the truth about dispatched jobs. The local `InFlight` map always
 * tracks what this process sent (for acks, flow control and vanished workers); a durable ledger
 * adds Redis as the truth that outlives the process.
 */
export interface DispatchLedger {
  readonly durable: boolean;
  /** Opens a batch. A batch the ledger already knows is resumed; a done one returns its summary. */
  begin(batch: string, pipeline: string): Promise<{ resumed: boolean; summary: BatchSummary | null }>;
  /** Of these seqs of a resumed batch, the ones never dispatched. */
  keepNew(batch: string, seqs: number[]): Promise<number[]>;
  end(batch: string, total: number): Promise<void>;
  /**
   * Write-ahead: called before the jobs are sent. `fresh` jobs come straight from the split of a
   * batch that was not resumed, so they cannot be recorded or dead yet. Returns the seqs of jobs
   * that were recorded or dead-lettered meanwhile: they must not be sent.
   */
  admit(batch: string, jobs: PendingJob[], leaseDeadline: number, fresh: boolean): Promise<number[]>;
  /** The jobs of a worker that vanished; `why` says how (it becomes their last error). */
  release(held: InFlightJob[], why: string): Promise<Requeue>;
  /** Jobs whose lease ran out, or whose retry is due; at most `limit` of them. */
  due(local: InFlight, limit: number): Promise<Requeue>;
  /**
   * Renews the reservations of jobs taken by `due` that still wait here, before they run out:
   * the reaper would take them again, their attempt raised once more without a delivery.
   */
  hold(waiting: PendingJob[]): Promise<void>;
  /** The batch's summary once it is done, read from the ledger (null when unknown or running). */
  doneSummary(batch: string): Promise<BatchSummary | null>;
}

/** Persistence off: the ventilator's memory is the ledger. A ventilator crash loses its batch. */
export class MemoryDispatchLedger implements DispatchLedger {
  readonly durable = false;
  constructor(
    private readonly leaseMs: number,
    private readonly maxAttempts: number,
  ) {}

  async begin() {
    return { resumed: false, summary: null };
  }
  async keepNew(_batch: string, seqs: number[]) {
    return seqs;
  }
  async end() {}
  async admit(): Promise<number[]> {
    return [];
  }
  async doneSummary() {
    return null;
  }
  async hold() {}

  async release(held: InFlightJob[]): Promise<Requeue> {
    return this.#requeue(held);
  }

  async due(local: InFlight): Promise<Requeue> {
    return this.#requeue(local.takeExpired(Date.now() - this.leaseMs));
  }

  #requeue(jobs: InFlightJob[]): Requeue {
    const requeue: Requeue = { redeliver: [], deadToReport: [], deadLettered: 0 };
    for (const entry of jobs) {
      if (entry.job.attempt >= this.maxAttempts) requeue.deadToReport.push(entry);
      // Without retries, every job that comes back here was lost with its worker or its lease.
      else requeue.redeliver.push({ ...entry.job, attempt: entry.job.attempt + 1, suspect: true });
    }
    requeue.deadLettered = requeue.deadToReport.length;
    return requeue;
  }
}

/** Persistence on: Redis holds every in-flight job, lease and dead letter (see libs/ledger). */
export class RedisDispatchLedger implements DispatchLedger {
  readonly durable = true;
  /** Batches found in the ledger at begin: their split may repeat jobs done meanwhile. */
  readonly #resumed = new Set<string>();
  constructor(
    private readonly ledger: RedisLedger,
    private readonly pipeline: string,
    private readonly leaseMs: number,
    private readonly maxAttempts: number,
  ) {}

  async begin(batch: string, pipeline: string) {
    const before = await this.ledger.batchInfo(batch);
    if (before) this.#resumed.add(batch);
    const info = await this.ledger.beginBatch(batch, pipeline);
    return { resumed: before !== undefined, summary: info.status === 'done' ? info.summary : null };
  }

  keepNew(batch: string, seqs: number[]) {
    return this.ledger.filterNew(batch, seqs);
  }

  end(batch: string, total: number) {
    return this.ledger.endBatch(batch, total);
  }

  admit(batch: string, jobs: PendingJob[], leaseDeadline: number, fresh: boolean) {
    return this.ledger.admit(batch, jobs, leaseDeadline, !fresh || this.#resumed.has(batch));
  }

  // Their leases run out now: the next `due` sends them again, whichever ventilator runs it.
  async release(held: InFlightJob[], why: string): Promise<Requeue> {
    const error = { name: 'WorkerLost', message: `no result: ${why}` };
    for (const [batch, seqs] of seqsByBatch(held.map(({ job }) => job))) await this.ledger.expireNow(batch, seqs, error);
    return { redeliver: [], deadToReport: [], deadLettered: 0 };
  }

  async due(local: InFlight, limit: number): Promise<Requeue> {
    const now = Date.now();
    // Redis decides what is due; the local copies of expired jobs are only forgotten.
    local.takeExpired(now - this.leaseMs);
    const requeue: Requeue = { redeliver: [], deadToReport: [], deadLettered: 0 };
    for (const batch of await this.ledger.activeBatches(this.pipeline)) {
      const room = limit - requeue.redeliver.length;
      if (room <= 0) break;
      const { jobs, deadLettered } = await this.ledger.takeDue(batch, room, this.maxAttempts, now + this.leaseMs, now);
      for (const { lost, ...job } of jobs) requeue.redeliver.push({ batch, ...job, suspect: lost, heldUntil: now + this.leaseMs });
      requeue.deadLettered += deadLettered;
    }
    return requeue;
  }

  async doneSummary(batch: string) {
    const info = await this.ledger.batchInfo(batch);
    return info?.status === 'done' ? info.summary : null;
  }

  async hold(waiting: PendingJob[]): Promise<void> {
    const now = Date.now();
    const until = now + this.leaseMs;
    // Renewed once half the reservation is gone: a few calls per lease, whatever waits.
    const renew = waiting.filter((job) => job.heldUntil !== undefined && job.heldUntil - now <= this.leaseMs / 2);
    for (const job of renew) job.heldUntil = until;
    for (const [batch, seqs] of seqsByBatch(renew)) await this.ledger.extendLeases(batch, seqs, until);
  }
}

/** The jobs' seqs grouped by batch: the ledger takes one call per batch. */
function seqsByBatch(jobs: readonly { batch: string; seq: number }[]): Map<string, number[]> {
  const byBatch = new Map<string, number[]>();
  for (const { batch, seq } of jobs) {
    let seqs = byBatch.get(batch);
    if (!seqs) byBatch.set(batch, (seqs = []));
    seqs.push(seq);
  }
  return byBatch;
}
