import { WireErrorName, type BatchSummary, type JobResult } from '@jobpipe/protocol';
import type { DispatchLedger, InFlightJob, PendingJob, Requeue } from '../dispatch-ledger.js';
import type { Recording, ResultLedger } from '../result-ledger.js';
import { LocalJobs } from './local-jobs.js';
import type { LedgerSettings, LedgerStore, PipelineLedgers } from './stores.js';

export const PIPELINE = 'contract';
export const BATCH = 'b1';

/**
 * One pipeline run by hand over a store's two ledgers, doing what the ventilator and the sink do
 * around them and nothing more: the ventilator's map of what it sent, the sink's Recorded acks
 * (every result acked, whatever its outcome), the ventilator's report of its dead letters to the
 * sink. Time stands still until `advance`.
 */
export class Rig {
  now = 1_000_000;
  readonly settings: LedgerSettings;
  readonly ledgers: PipelineLedgers;
  dispatch: DispatchLedger;
  results: ResultLedger;
  local = new LocalJobs();

  constructor(
    readonly store: LedgerStore,
    settings: Partial<Omit<LedgerSettings, 'clock'>> = {},
  ) {
    this.settings = { pipeline: PIPELINE, leaseMs: 1000, maxAttempts: 3, retries: 0, retryBackoffMs: 100, clock: () => this.now, ...settings };
    this.ledgers = store.open(this.settings);
    this.dispatch = this.ledgers.dispatch;
    this.results = this.ledgers.results;
  }

  get leaseMs(): number {
    return this.settings.leaseMs;
  }

  advance(ms: number): void {
    this.now += ms;
  }

  /** The ventilator opens the batch (in the ledger, then BatchStart to the sink). */
  async begin(batch = BATCH) {
    const begun = await this.dispatch.begin(batch, PIPELINE);
    await this.results.begin(batch);
    return begun;
  }

  /** The split is over (in the ledger, then BatchEnd to the sink). */
  async end(total: number, batch = BATCH): Promise<void> {
    await this.dispatch.end(batch, total);
    await this.results.setTotal(batch, total);
  }

  /** Fresh jobs as the split makes them. */
  fresh(seqs: number[], batch = BATCH): PendingJob[] {
    return seqs.map((seq) => ({ batch, seq, attempt: 1, payloadJson: JSON.stringify({ n: seq }) }));
  }

  /**
   * One packed message to `worker`: written ahead with a lease, then in the local map. `fresh`
   * jobs come straight from the split; returns the jobs sent (the write-ahead may skip some).
   */
  async send(jobs: PendingJob[], worker = 'w1', fresh = jobs.every((job) => job.attempt === 1 && !job.heldUntil)): Promise<PendingJob[]> {
    const batch = jobs[0]!.batch;
    const skipped = new Set(await this.dispatch.admit(batch, jobs, this.now + this.leaseMs, fresh));
    const sent = jobs.filter((job) => !skipped.has(job.seq));
    for (const job of sent) this.local.add(job, this.now, worker);
    return sent;
  }

  /** A worker's results reach the sink, which records them and acks every one. */
  async report(worker: string, results: JobResult[], batch = BATCH): Promise<Recording> {
    const recording = await this.results.record(batch, worker, results);
    for (const result of results) this.local.remove(batch, result.seq);
    return recording;
  }

  /** The reaper: jobs due again, at most `limit`; dead letters it must report go to the sink. */
  async reap(limit = 1000): Promise<Requeue> {
    return this.#reportDead(await this.dispatch.due(this.local, limit));
  }

  /** A worker vanished: its jobs are released, and the reaper runs at once. Both answers, merged. */
  async lose(worker: string): Promise<Requeue> {
    const released = await this.#reportDead(await this.dispatch.release(this.local.takeHeldBy(worker), `worker ${worker} went away`));
    const due = await this.reap();
    return {
      redeliver: [...released.redeliver, ...due.redeliver],
      deadToReport: [...released.deadToReport, ...due.deadToReport],
      deadLettered: released.deadLettered + due.deadLettered,
    };
  }

  async counts(batch = BATCH) {
    return this.results.counts(batch);
  }

  summary(failed = 0, batch = BATCH): BatchSummary {
    return { batch, pipeline: PIPELINE, jobs: 0, failed, duplicates: 0, wallSeconds: 1, jobsPerSecond: 0, perWorker: {}, answer: null };
  }

  // As the ventilator does without a durable ledger: a dead letter becomes a failed result at the sink.
  async #reportDead(requeue: Requeue): Promise<Requeue> {
    const byBatch = new Map<string, InFlightJob[]>();
    for (const entry of requeue.deadToReport) byBatch.set(entry.job.batch, [...(byBatch.get(entry.job.batch) ?? []), entry]);
    for (const [batch, entries] of byBatch) {
      const results = entries.map(
        ({ job, dispatchedAt }): JobResult => ({
          batch,
          seq: job.seq,
          attempt: job.attempt,
          dispatchedAt,
          durationMs: 0,
          ok: false,
          error: { name: WireErrorName.DeadLetter, message: 'gave up' },
        }),
      );
      await this.results.record(batch, 'ventilator', results);
    }
    return requeue;
  }
}

/** A worker's success for `seq`. */
export function ok(seq: number, value: unknown = seq, attempt = 1, batch = BATCH): JobResult {
  return { batch, seq, attempt, dispatchedAt: 0, durationMs: 1, ok: true, value };
}

/** A worker's failure for `seq`: its handler threw. */
export function failed(seq: number, attempt = 1, message = 'boom', batch = BATCH): JobResult {
  return { batch, seq, attempt, dispatchedAt: 0, durationMs: 1, ok: false, error: { name: 'Error', message } };
}

/** The seqs and attempts of jobs to send again, and whether each goes alone as a suspect. */
export function redeliveries(requeue: Requeue): [seq: number, attempt: number, suspect: boolean][] {
  return requeue.redeliver.map((job) => [job.seq, job.attempt, job.suspect === true] as [number, number, boolean]).sort((a, b) => a[0] - b[0]);
}
