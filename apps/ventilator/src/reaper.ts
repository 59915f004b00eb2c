import { encode, WireErrorName } from '@jobpipe/protocol';
import type { DispatchLedger, InFlightJob, PendingJob, Requeue } from '@jobpipe/ledger';
import type { Logger, Metrics } from '@jobpipe/observability';
import type { SendsFrames } from '@jobpipe/transport';
import type { Backlog } from './backlog.js';

export interface ReaperOptions {
  /** The pipeline's name, on dead-letter reports. */
  pipeline: string;
  labels: { readonly pipeline: string };
  ledger: Pick<DispatchLedger, 'due' | 'hold' | 'release'>;
  backlog: Backlog;
  /** The sink's PUSH sender: dead letters the sink reads from no ledger go there as failed results. */
  toSink: SendsFrames;
  logger: Logger;
  metrics: Pick<Metrics, 'jobsRedelivered' | 'jobsDeadLettered'>;
  /** False once the ventilator stops. */
  running: () => boolean;
}

/**
 * Brings jobs back: those whose lease ran out or whose retry is due (`reap`, on a timer) and those
 * of a worker that went away (`release`). The ledger decides each job's fate; the reaper puts
 * redeliveries back in the backlog, counts them, and reports dead letters.
 */
export class Reaper {
  readonly #o: ReaperOptions;
  #reaping = false;

  constructor(options: ReaperOptions) {
    this.#o = options;
  }

  /** One look for expired leases and due retries; skipped while the last one is under way. */
  async reap(): Promise<void> {
    const { ledger, backlog, logger } = this.#o;
    if (this.#reaping || !this.#o.running()) return;
    this.#reaping = true;
    try {
      // Take no more than can go out soon: a taken job's reservation runs while it waits, and is
      // renewed while it still waits (suspects may wait for an idle worker).
      const waiting = backlog.waiting();
      if (waiting.length > 0) await ledger.hold(waiting);
      // Due are jobs whose lease ran out, whose retry's wait is over, and, with persistence on,
      // those a vanished worker held (release marks them due in the ledger). Asked with no room
      // too: jobs in flight take the room, and expired ones leave it only through `due`.
      this.#requeue(await ledger.due(backlog.inFlight, backlog.reapRoom()), 'lease expired, retry due, or worker gone');
    } catch (error) {
      logger.error({ err: error }, 'lease check failed; retrying');
    } finally {
      this.#reaping = false;
    }
  }

  /** The jobs a vanished worker held go back through the ledger (attempt raised, or dead). */
  async release(held: InFlightJob[], workerId: string, why: string): Promise<void> {
    if (held.length === 0) return;
    try {
      this.#requeue(await this.#o.ledger.release(held, `worker ${workerId} went away (${why})`), `worker ${workerId} went away`);
    } catch (error) {
      this.#o.logger.error({ err: error }, 'could not release the jobs of a vanished worker; their leases will bring them back');
    }
  }

  #requeue(requeue: Requeue, why: string): void {
    const { metrics, logger, labels, backlog } = this.#o;
    const { redeliver, deadToReport, deadLettered } = requeue;
    if (redeliver.length === 0 && deadLettered === 0) return;
    metrics.jobsRedelivered.inc(labels, redeliver.length);
    if (deadLettered > 0) metrics.jobsDeadLettered.inc(labels, deadLettered);
    logger.warn({ redeliver: redeliver.length, dead: deadLettered, why }, 'requeueing jobs');
    if (deadToReport.length > 0) this.#reportDead(deadToReport, why);
    backlog.comeBack(redeliver);
  }

  /**
   * Fails jobs that no worker may be sent (a lone job above the message limit): reported to the
   * sink as a worker reports a failure, not retryable, so the ledger makes each a dead letter (or,
   * without one, a failed result) and its batch can complete.
   */
  refuse(jobs: readonly PendingJob[], dispatchedAt: number, error: { name: string; message: string }): void {
    for (const job of jobs) this.#o.logger.error({ batch: job.batch, job: `${job.batch}:${job.seq}`, err: error.message }, 'job refused');
    this.#sendFailed(
      jobs.map((job) => ({ job, dispatchedAt })),
      () => ({ ...error, retryable: false }),
      'could not report refused jobs to the sink; their leases bring them back',
    );
  }

  // Without a durable ledger a dead letter is recorded at the sink as a failed result, so its batch can complete.
  #reportDead(jobs: InFlightJob[], why: string): void {
    for (const { job } of jobs) this.#o.logger.error({ batch: job.batch, job: `${job.batch}:${job.seq}`, attempts: job.attempt, why }, 'dead letter');
    this.#sendFailed(
      jobs,
      (job) => ({ name: WireErrorName.DeadLetter, message: `gave up after ${job.attempt} attempt(s): ${why}` }),
      'could not report dead letters to the sink',
    );
  }

  /** Sends the sink a Results message failing these jobs, as from the worker id 'ventilator'. */
  #sendFailed(
    jobs: readonly { job: PendingJob; dispatchedAt: number }[],
    errorOf: (job: PendingJob) => { name: string; message: string; retryable?: boolean },
    failedLine: string,
  ): void {
    const { logger, pipeline, toSink } = this.#o;
    const results = jobs.map(({ job, dispatchedAt }) => ({
      batch: job.batch,
      seq: job.seq,
      attempt: job.attempt,
      dispatchedAt,
      durationMs: 0,
      ok: false as const,
      error: errorOf(job),
    }));
    void toSink.send(encode({ type: 'Results', pipeline, worker: 'ventilator', results })).catch((error: Error) => logger.error({ err: error }, failedLine));
  }
}
