import type { BatchSummary } from '@jobpipe/protocol';
import type { BatchAccount, LedgerJob } from './redis-ledger.js';

/** A job waiting to be dispatched. Its payload is JSON text from the split on, stringified once. */
export interface PendingJob extends LedgerJob {
  batch: string;
  /** Its last delivery ended without a result: it is sent alone (see apps/ventilator/src/isolation.ts). */
  suspect?: boolean;
  /** Taken by `due`: its reservation in the ledger runs until then (epoch ms). */
  heldUntil?: number;
}

/** A job the ventilator dispatched and has not seen recorded: which worker session holds it, since when. */
export interface InFlightJob {
  job: PendingJob;
  /** When it left, epoch ms. */
  dispatchedAt: number;
  /** The worker session that holds it. */
  worker: string;
}

/**
 * What a dispatch ledger needs of the ventilator's own map of the jobs it sent (its `InFlight`):
 * the memory ledger's leases are that map, and a durable ledger forgets the local copies of jobs
 * whose lease it handles itself.
 */
export interface LocalInFlight {
  /**
   * Removes and returns the jobs dispatched at or before `dispatchedBefore` (epoch ms), in
   * dispatch order, at most `limit` of them. @default limit: every one
   */
  takeExpired(dispatchedBefore: number, limit?: number): InFlightJob[];
}

/** Jobs to send again, and jobs that ran out of attempts. */
export interface Requeue {
  redeliver: PendingJob[];
  /**
   * Jobs the ventilator must report to the sink as dead letters (failed results), because no
   * ledger the sink reads holds them: the memory ledger only. A durable ledger keeps its dead
   * letters itself, and this stays empty.
   */
  deadToReport: InFlightJob[];
  /** Jobs that became dead letters, for the metric. */
  deadLettered: number;
}

/**
 * Where the ventilator keeps the truth about dispatched jobs. The local `InFlight` map always
 * tracks what this process sent (for acks, flow control and vanished workers); a durable ledger
 * adds Redis as the truth that outlives the process. Two implementations, held to the same rules
 * by the contract suite (src/contract): MemoryDispatchLedger and RedisDispatchLedger.
 */
export interface DispatchLedger {
  readonly durable: boolean;
  /** Opens a batch. A batch the ledger already knows is resumed; a done one returns its summary. */
  begin(batch: string, pipeline: string): Promise<{ resumed: boolean; summary: BatchSummary | null; cancelled?: boolean }>;
  /** Of these seqs of a resumed batch, the ones never dispatched. */
  keepNew(batch: string, seqs: number[]): Promise<number[]>;
  /**
   * A batch whose split failed (its intake job says why): cancelled in a durable ledger, so that
   * nothing of it runs on, the sink completes it, and its keys expire with its retention. Without
   * a durable ledger nothing outlives the roles, and there is nothing to do.
   */
  abandon?(batch: string, pipeline: string): Promise<void>;
  /**
   * The split is over: the batch has `total` jobs. Returns how many results recorded for seqs
   * past that end were removed (durable: a rogue or confused peer sent them; they would have
   * counted toward the batch's end).
   */
  end(batch: string, total: number): Promise<number>;
  /**
   * Write-ahead: called before the jobs are sent. `fresh` jobs come straight from the split of a
   * batch that was not resumed, so they cannot be recorded or dead yet. `leaseDeadline` (epoch
   * ms) is when they are due again without a result. Returns the seqs of jobs that were recorded
   * or dead-lettered meanwhile: they must not be sent.
   */
  admit(batch: string, jobs: PendingJob[], leaseDeadline: number, fresh: boolean): Promise<number[]>;
  /**
   * The jobs of a worker that vanished; `why` says how (it becomes their last error). They come
   * back, attempt raised, from this call or from the next `due`.
   */
  release(held: InFlightJob[], why: string): Promise<Requeue>;
  /**
   * Jobs whose lease ran out, or whose retry is due, with their attempt raised. `local` is the
   * ventilator's own map of what it sent: its expired jobs always leave it, and come back in
   * their own place (they were counted out already); `limit` bounds the jobs taken beyond those.
   * So a ventilator whose every job in flight has expired, with no room left, still gets them back.
   */
  due(local: LocalInFlight, limit: number): Promise<Requeue>;
  /**
   * Renews the reservations of jobs taken by `due` that still wait here, before they run out:
   * the reaper would take them again, their attempt raised once more without a delivery.
   */
  hold(waiting: PendingJob[]): Promise<void>;
  /** The batch's summary once it is done, read from the ledger (null when unknown or running). */
  doneSummary(batch: string): Promise<BatchSummary | null>;
  /**
   * What the ledger can account for of a batch (RedisLedger.account); undefined when it holds
   * nothing of it. Durable only: memory loses nothing it acknowledged while its process lives.
   */
  account(batch: string): Promise<BatchAccount | undefined>;
  /**
   * After Redis went back in time: in every running batch of the pipeline, whoever runs it, makes
   * the leases that run out before `deadlineBefore` run out now (RedisLedger.cutLeasesBefore), so
   * any ventilator's reaper sends their jobs again; returns how many. Memory: none (it never goes back).
   */
  cutPastLeases(deadlineBefore: number): Promise<number>;
}
