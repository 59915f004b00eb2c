import { WireErrorName } from '@jobpipe/protocol/errors';
import type { DispatchLedger, InFlightJob, LocalInFlight, PendingJob, Requeue } from './dispatch-ledger.js';
import type { RedisLedger } from './redis-ledger.js';

export interface RedisDispatchLedgerOptions {
  /** The pipeline whose batches this ventilator runs: `due` looks at its running batches. */
  pipeline: string;
  /** A job with no recorded result this long after it left is sent again, in ms (JOBPIPE_LEASE_MS). */
  leaseMs: number;
  /** Deliveries of a job before it becomes a dead letter (JOBPIPE_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** The time, in epoch ms, as the scripts are told it. @default Date.now */
  clock?: () => number;
}

/**
 * Persistence on: Redis holds every in-flight job, lease and dead letter (see RedisLedger). Every
 * method is one ledger call per batch it touches, whatever the number of jobs.
 */
export class RedisDispatchLedger implements DispatchLedger {
  readonly durable = true;
  /** Batches found in the ledger at begin: their split may repeat jobs done meanwhile. */
  readonly #resumed = new Set<string>();
  readonly #ledger: RedisLedger;
  readonly #pipeline: string;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #clock: () => number;

  constructor(ledger: RedisLedger, options: RedisDispatchLedgerOptions) {
    this.#ledger = ledger;
    this.#pipeline = options.pipeline;
    this.#leaseMs = options.leaseMs;
    this.#maxAttempts = options.maxAttempts;
    this.#clock = options.clock ?? Date.now;
  }

  async begin(batch: string, pipeline: string) {
    const info = await this.#ledger.beginBatch(batch, pipeline, this.#clock());
    if (!info.created) this.#resumed.add(batch);
    return { resumed: !info.created, summary: info.status === 'done' ? info.summary : null, ...(info.cancelledAt === null ? {} : { cancelled: true }) };
  }

  async abandon(batch: string, pipeline: string): Promise<void> {
    await this.#ledger.cancel(batch, pipeline);
  }

  keepNew(batch: string, seqs: number[]) {
    return this.#ledger.filterNew(batch, seqs);
  }

  end(batch: string, total: number) {
    return this.#ledger.endBatch(batch, total);
  }

  admit(batch: string, jobs: PendingJob[], leaseDeadline: number, fresh: boolean) {
    return this.#ledger.admit(batch, jobs, leaseDeadline, !fresh || this.#resumed.has(batch));
  }

  // Their leases run out now: the next `due` sends them again, whichever ventilator runs it.
  async release(held: InFlightJob[], why: string): Promise<Requeue> {
    const error = { name: WireErrorName.WorkerLost, message: `no result: ${why}` };
    for (const [batch, seqs] of seqsByBatch(held.map(({ job }) => job))) await this.#ledger.expireNow(batch, seqs, error);
    return { redeliver: [], deadToReport: [], deadLettered: 0 };
  }

  async due(local: LocalInFlight, limit: number): Promise<Requeue> {
    const now = this.#clock();
    // Redis decides what is due; the local copies of expired jobs are only forgotten, and each
    // leaves room for one job taken from Redis (most often itself).
    limit += local.takeExpired(now - this.#leaseMs).length;
    const requeue: Requeue = { redeliver: [], deadToReport: [], deadLettered: 0 };
    for (const batch of await this.#ledger.activeBatches(this.#pipeline)) {
      const room = limit - requeue.redeliver.length;
      if (room <= 0) break;
      const { jobs, deadLettered } = await this.#ledger.takeDue(batch, room, this.#maxAttempts, now + this.#leaseMs, now);
      for (const { lost, ...job } of jobs) requeue.redeliver.push({ batch, ...job, suspect: lost, heldUntil: now + this.#leaseMs });
      requeue.deadLettered += deadLettered;
    }
    return requeue;
  }

  async doneSummary(batch: string) {
    const info = await this.#ledger.batchInfo(batch);
    return info?.status === 'done' ? info.summary : null;
  }

  account(batch: string) {
    return this.#ledger.account(batch);
  }

  async cutPastLeases(deadlineBefore: number): Promise<number> {
    let cut = 0;
    for (const batch of await this.#ledger.activeBatches(this.#pipeline)) cut += await this.#ledger.cutLeasesBefore(batch, deadlineBefore, this.#clock());
    return cut;
  }

  async hold(waiting: PendingJob[]): Promise<void> {
    const now = this.#clock();
    const until = now + this.#leaseMs;
    // Renewed once half the reservation is gone: a few calls per lease, whatever waits.
    const renew = waiting.filter((job) => job.heldUntil !== undefined && job.heldUntil - now <= this.#leaseMs / 2);
    for (const job of renew) job.heldUntil = until;
    for (const [batch, seqs] of seqsByBatch(renew)) await this.#ledger.extendLeases(batch, seqs, until);
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
