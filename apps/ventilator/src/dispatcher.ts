import type { JobsFrameEncoder } from '@jobpipe/protocol';
import { JOB_OVERHEAD_BYTES, JOBS_FRAME_SLACK_BYTES, WireErrorName } from '@jobpipe/protocol';
import type { DispatchLedger, PendingJob } from '@jobpipe/ledger';
import type { JobSampler, Logger, Metrics, PackTrace } from '@jobpipe/observability';
import type { SendsFrames } from '@jobpipe/transport';
import type { Backlog } from './backlog.js';
import type { DispatchGate } from './dispatch-gate.js';
import { arraySource, bytesOf, type PackSource } from './fresh-queues.js';
import type { Isolation } from './isolation.js';
import type { CompiledVentilatorOptions } from './ventilator-options.js';
import type { WorkerRegistry, WorkerSession } from './worker-registry.js';
import type { WorkerSessions } from './worker-sessions.js';

/** Packs whose write-ahead may be under way at once (see `run`). */
const WRITE_AHEADS_AT_ONCE = 4;
/**
 * And their payload bytes, at most (a pack over it still goes, alone): a pack is held about five
 * times over while written ahead (payloads, frame, write-ahead entries, ioredis's command and its
 * transaction). Packs are 1 MiB at most, so this holds back only jobs larger than that, each a
 * pack of its own.
 */
const WRITE_AHEAD_BYTES_AT_ONCE = 8 * 1024 * 1024;

export interface DispatcherOptions {
  options: Pick<CompiledVentilatorOptions, 'maxMessageBytes' | 'maxJobsPerMessage' | 'packBudgetBytes' | 'leaseMs'> & { labels: { readonly pipeline: string } };
  /** Where each pack is written ahead. */
  ledger: Pick<DispatchLedger, 'admit'>;
  backlog: Backlog;
  workers: WorkerRegistry;
  isolation: Isolation;
  encoder: JobsFrameEncoder;
  /** The ROUTER's sender: `[routing id, frame]`. */
  toWorkers: SendsFrames;
  /** Told when a pack left (a Drained answer may wait for it) and when a worker was unreachable. */
  sessions: Pick<WorkerSessions, 'packLeft' | 'lost'>;
  logger: Logger;
  metrics: Pick<Metrics, 'jobsDispatched'>;
  /** False once the ventilator stops. */
  running: () => boolean;
  /** Pause and rate limit: how many jobs may go now. @default no gate */
  gate?: Pick<DispatchGate, 'allowance' | 'spend'>;
  /** Tracing on: which jobs are traced, and their packs' dispatch spans (docs/architecture.md, "Tracing"). @default none traced */
  traces?: Pick<JobSampler, 'pack'>;
  /** Told of each pack once it is written ahead, before it is sent (single jobs acknowledge their stream entries). */
  writtenAhead?: (batch: string, jobs: readonly PendingJob[]) => void;
  /** Fails written-ahead jobs that no worker may be sent, not retryable (Reaper.refuse). */
  refuse: (jobs: readonly PendingJob[], dispatchedAt: number, error: { name: string; message: string }) => void;
}

/**
 * Sends jobs to workers only against their credit: picks a session, packs what waits (suspects
 * alone, then redeliveries, then fresh jobs by batch priority and in turn, see fresh-queues.ts)
 * into one Jobs message, reserves the credit, writes the pack ahead to the ledger and sends it.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions;

  constructor(options: DispatcherOptions) {
    this.#o = options;
  }

  /** The dispatch loop; resolves once the ventilator stops and the packs under way are done. */
  async run(): Promise<void> {
    const { backlog, workers, isolation, encoder, running, gate, traces } = this.#o;
    const { maxMessageBytes, maxJobsPerMessage, packBudgetBytes: budget } = this.#o.options;
    // Deliveries under way, oldest first. The next pack is built while Redis writes the last
    // one ahead: awaiting each write-ahead before building the next left a core idle a fifth of
    // the time in durable runs.
    const deliveries: Promise<void>[] = [];
    const suspects = arraySource(backlog.suspects, backlog.cameBack);
    const redeliveries = arraySource(backlog.redeliveries, backlog.cameBack);
    while (running()) {
      if (deliveries.length >= WRITE_AHEADS_AT_ONCE || (deliveries.length > 0 && backlog.admittingBytes >= WRITE_AHEAD_BYTES_AT_ONCE)) {
        await deliveries.shift();
        continue;
      }
      // A suspect goes alone to an idle worker; the others get ordinary jobs (see isolation.ts).
      const suspectTo = isolation.target();
      const session = suspectTo ?? workers.pick((s) => isolation.open(s));
      const source: PackSource | undefined = suspectTo ? suspects : backlog.redeliveries.length > 0 ? redeliveries : backlog.fresh.next();
      if (!session || !source || source.jobs.length === 0) {
        await backlog.changed.wait();
        continue;
      }
      // One batch per message keeps the write-ahead to one ledger call; the pack also stays
      // under the message size limit, or the worker would drop it as too large.
      const waiting = source.jobs;
      const batch = waiting[0]!.batch;
      const wanted = suspectTo ? 1 : Math.min(workers.available(session), maxJobsPerMessage, waiting.length);
      // Paused, or out of rate-limit tokens: the gate wakes the loop when jobs may go again.
      const limit = gate ? gate.allowance(wanted) : wanted;
      if (limit === 0) {
        await backlog.changed.wait();
        continue;
      }
      // A worker that grants credit in bytes (PROTOCOL.md 4a) takes no message beyond it.
      const creditBytes = workers.availableBytes(session);
      const byteRoom = creditBytes - JOBS_FRAME_SLACK_BYTES;
      let count = 0;
      let bytes = 0;
      while (count < limit && waiting[count]!.batch === batch) {
        bytes += waiting[count]!.payloadJson.length + JOB_OVERHEAD_BYTES + batch.length;
        if (bytes > byteRoom || (count > 0 && bytes > budget)) break;
        count++;
      }
      const jobs = source.take(count);
      const dispatchedAt = Date.now();
      // Tracing on: a pack with sampled jobs gets a dispatch span, named in their traceparent; none when off.
      const trace = traces?.pack(batch, jobs, dispatchedAt);
      let frame = jobs.length > 0 ? encoder.encode(batch, dispatchedAt, jobs, trace?.traceparents) : undefined;
      // Payloads of multi-byte characters can still overshoot: send half now, the rest next.
      while (frame && (frame.length > maxMessageBytes || frame.length > creditBytes) && jobs.length > 1) {
        source.putBack(jobs.splice(jobs.length >> 1));
        frame = encoder.encode(batch, dispatchedAt, jobs, trace?.traceparents);
      }
      if (frame && frame.length > maxMessageBytes) {
        // One job alone above the message limit (a single job added through a client that allows
        // more: a batch's split refuses such a job): no worker may take it, so it fails for good.
        deliveries.push(this.#refuseTooLarge(source, batch, jobs, frame.length));
        continue;
      }
      if (!frame || frame.length > creditBytes) {
        // Not one job fits its byte credit: it gets nothing until its next Credit brings more.
        if (jobs.length > 0) source.putBack(jobs);
        session.waitsForBytes = true;
        continue;
      }
      gate?.spend(jobs.length);
      // Reserved until the write-ahead is done: counted against the worker's credit meanwhile.
      session.reserved += jobs.length;
      const reservedBytes = session.bytes ? frame.length : 0;
      if (session.bytes) session.bytes.reserved += reservedBytes;
      const payloadBytes = bytesOf(jobs);
      backlog.startAdmitting(batch, jobs.length, payloadBytes);
      deliveries.push(this.#deliver({ session, source, batch, jobs, frame, dispatchedAt, payloadBytes, reservedBytes, trace }));
    }
    await Promise.all(deliveries);
  }

  /** Writes a job that no message can carry ahead to the ledger, then fails it (JobTooLarge). */
  async #refuseTooLarge(source: PackSource, batch: string, jobs: PendingJob[], frameBytes: number): Promise<void> {
    const { ledger, backlog, logger, options } = this.#o;
    const dispatchedAt = Date.now();
    const payloadBytes = bytesOf(jobs);
    backlog.startAdmitting(batch, jobs.length, payloadBytes);
    let skipped: number[];
    try {
      skipped = await ledger.admit(batch, jobs, dispatchedAt + options.leaseMs, source.fresh);
    } catch (error) {
      logger.error({ err: error, batch }, 'write-ahead failed; retrying');
      return this.#backInLine(source, batch, jobs, payloadBytes);
    }
    backlog.endAdmitting(batch, jobs.length, payloadBytes);
    this.#o.writtenAhead?.(batch, jobs);
    const refused = jobs.filter((job) => !skipped.includes(job.seq));
    if (refused.length === 0) return;
    this.#o.refuse(refused, dispatchedAt, {
      name: WireErrorName.JobTooLarge,
      message: `a Jobs message with it alone has ${frameBytes} bytes; messages are limited to ${options.maxMessageBytes} (JOBPIPE_MAX_MESSAGE_BYTES of the ventilator)`,
    });
  }

  /** A pack whose write-ahead failed (Redis is unreachable): nothing was sent, so its jobs go back in line after a pause. */
  async #backInLine(source: PackSource, batch: string, jobs: PendingJob[], payloadBytes: number): Promise<void> {
    const { backlog } = this.#o;
    await new Promise((resolve) => setTimeout(resolve, 500));
    source.putBack(jobs);
    backlog.endAdmitting(batch, jobs.length, payloadBytes);
    backlog.changed.notify();
  }

  /** Writes a pack ahead to the ledger, then sends it. */
  async #deliver(pack: {
    session: WorkerSession;
    source: PackSource;
    batch: string;
    jobs: PendingJob[];
    frame: Buffer;
    dispatchedAt: number;
    payloadBytes: number;
    /** The frame's bytes counted against the session's byte credit meanwhile (0: it grants none). */
    reservedBytes: number;
    /** The dispatch span of its traced jobs, if any: ended as the pack leaves. */
    trace: PackTrace | undefined;
  }): Promise<void> {
    const { ledger, backlog, encoder, toWorkers, sessions, metrics, logger } = this.#o;
    const { session, source, batch, dispatchedAt, payloadBytes, reservedBytes, trace } = pack;
    let { jobs, frame } = pack;
    // Started before any await: Redis answers write-aheads in the order they were sent, so the
    // packs leave in the order they were built.
    const admitted = ledger.admit(batch, jobs, dispatchedAt + this.#o.options.leaseMs, source.fresh);
    let skipped: number[] | undefined;
    try {
      skipped = await admitted;
    } catch (error) {
      logger.error({ err: error, batch }, 'write-ahead failed; retrying');
    }
    session.reserved -= jobs.length;
    if (reservedBytes > 0) {
      session.bytes!.reserved -= reservedBytes;
      // What it waited for may fit now.
      if (session.waitsForBytes) {
        session.waitsForBytes = false;
        backlog.changed.notify();
      }
    }
    if (skipped === undefined) {
      await this.#backInLine(source, batch, jobs, payloadBytes);
    } else {
      // Out of the queues: held from now on by the in-flight map, which keeps payloads only
      // when no durable ledger does.
      backlog.endAdmitting(batch, jobs.length, payloadBytes);
      this.#o.writtenAhead?.(batch, jobs);
      // Recorded (a late result) or dead-lettered (a reservation that ran out: a ventilator that
      // restarted) while they waited here: sending them would run them once more.
      // Cancelled while they waited (jobpipe cancel): the ledger has them out already.
      const cancelled = backlog.cancelledIn(batch);
      if (skipped.length > 0 || cancelled) {
        const gone = new Set(skipped);
        const kept = jobs.filter((job) => !gone.has(job.seq) && !cancelled?.(job.seq));
        if (kept.length < jobs.length) {
          jobs = kept;
          if (jobs.length > 0) frame = encoder.encode(batch, dispatchedAt, jobs, trace?.traceparents);
        }
      }
      if (jobs.length > 0) {
        for (const job of jobs) backlog.inFlight.add(job, dispatchedAt, session.key);
        session.sent += jobs.length;
        if (session.bytes) session.bytes.sent += frame.length;
        session.lastSentAt = dispatchedAt;
        backlog.room.notify();
        try {
          await toWorkers.send([session.routingId, frame]);
          metrics.jobsDispatched.inc(this.#o.options.labels, jobs.length);
          trace?.end(jobs);
        } catch (error) {
          trace?.end(jobs, error);
          // EHOSTUNREACH: the worker disconnected. Its jobs go back in line.
          logger.warn({ worker: session.workerId, err: error }, 'worker unreachable; requeueing its jobs');
          await sessions.lost(session, 'unreachable');
        }
      }
    }
    sessions.packLeft(session);
  }
}
