import { randomBytes } from 'node:crypto';
import { Push, Router, Subscriber } from 'zeromq';
import { encode, JOB_OVERHEAD_BYTES, JOBS_FRAME_SLACK_BYTES, JobsFrameEncoder, topicOf, WireErrorName, type BatchSummary } from '@jobpipe/protocol';
import { parseInput, PipelineError, type Pipeline } from '@jobpipe/pipeline';
import { DroppedMessages, type Logger, type Metrics } from '@jobpipe/observability';
import { baseOptions, boundedReceiveQueue, prepareServerBinds, receiveLoop, SerialSender, Signal, SocketSecurity } from '@jobpipe/transport';
import type { DispatchLedger, InFlightJob, PendingJob, Requeue } from '@jobpipe/ledger';
import { InFlight } from './in-flight.js';
import { Isolation } from './isolation.js';
import { WorkerRegistry, type WorkerSession } from './worker-registry.js';

export interface VentilatorOptions {
  pipeline: Pipeline;
  ledger: DispatchLedger;
  jobsBind: string;
  resultsConnect: string;
  eventsConnect: string;
  maxInFlight: number;
  maxJobsPerMessage: number;
  leaseMs: number;
  heartbeatMs: number;
  maxMessageBytes: number;
  /** CURVE keys. @default plain sockets */
  security?: SocketSecurity;
  logger: Logger;
  metrics: Metrics;
}

/** How often the reaper looks for expired leases and due retries, at most. */
const REAP_EVERY_MS = 500;
/** How often a batch's completion is read from a durable ledger, in case the event was missed. */
const DONE_POLL_MS = 1000;
/** Packs whose write-ahead may be under way at once (see #dispatchLoop). */
const WRITE_AHEADS_AT_ONCE = 4;
/** A synchronous split yields to the event loop after this many jobs. */
const SPLIT_YIELD_EVERY = 1000;

/**
 * The ventilator role: streams a batch's split into jobs, writes each to the ledger before it
 * leaves, and sends jobs to workers only against the credit they grant.
 */
export class Ventilator {
  readonly #o: VentilatorOptions;
  readonly #workersSocket: Router;
  readonly #toWorkers: SerialSender;
  readonly #toSink: Push;
  readonly #sinkSender: SerialSender;
  readonly #events: Subscriber;
  readonly #workers: WorkerRegistry;
  readonly #inFlight = new InFlight();
  /** Jobs from the split not yet dispatched; bounded, so a huge split is streamed. */
  readonly #fresh: PendingJob[] = [];
  readonly #redeliveries: PendingJob[] = [];
  readonly #isolation: Isolation;
  readonly #changed = new Signal();
  readonly #room = new Signal();
  readonly #batchDone = new Map<string, (summary: BatchSummary) => void>();
  /** Jobs split so far, per batch this ventilator runs: progress before the total is known. */
  readonly #splitSoFar = new Map<string, number>();
  readonly #labels: { pipeline: string };
  readonly #jobsEncoder: JobsFrameEncoder;
  readonly #dropped: DroppedMessages;
  readonly #security: SocketSecurity;
  #running = false;
  #reaping = false;
  /** Jobs packed and being written ahead: out of every queue, not yet in flight. */
  #admitting = 0;
  #loops: Promise<unknown>[] = [];
  #timers: NodeJS.Timeout[] = [];

  constructor(options: VentilatorOptions) {
    this.#o = options;
    this.#dropped = new DroppedMessages('ventilator', options.metrics, options.logger);
    this.#security = options.security ?? SocketSecurity.plain();
    this.#labels = { pipeline: options.pipeline.name };
    this.#jobsEncoder = new JobsFrameEncoder(options.pipeline.name);
    const socketOptions = baseOptions({ maxMessageBytes: options.maxMessageBytes });
    // mandatory: a send to a worker that has gone fails at once instead of vanishing silently.
    this.#workersSocket = new Router({ ...socketOptions, ...boundedReceiveQueue({ maxMessageBytes: options.maxMessageBytes }), ...this.#security.bindOptions(), mandatory: true, handover: true });
    this.#toWorkers = new SerialSender(this.#workersSocket);
    this.#toSink = new Push({ ...socketOptions, ...this.#security.connectOptions() });
    this.#sinkSender = new SerialSender(this.#toSink);
    this.#events = new Subscriber({ ...socketOptions, ...this.#security.connectOptions() });
    this.#workers = new WorkerRegistry(options.heartbeatMs);
    this.#isolation = new Isolation(this.#workers, (key) => this.#inFlight.heldBy(key) + (this.#workers.byKey(key)?.reserved ?? 0));
    options.metrics.sampleGauge(options.metrics.jobsInflight, this.#labels, () => this.#inFlight.size);
    options.metrics.sampleGauge(options.metrics.workersConnected, this.#labels, () => this.#workers.size);
    options.metrics.sampleGauge(options.metrics.batchJobsSplit, this.#labels, () => [...this.#splitSoFar.values()].reduce((a, b) => a + b, 0));
  }

  get running(): boolean {
    return this.#running;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Worker sessions that sent a heartbeat recently. */
  get workersConnected(): number {
    return this.#workers.size;
  }

  async start(): Promise<void> {
    const { logger, metrics } = this.#o;
    const security = this.#security;
    await prepareServerBinds(security, { role: 'ventilator', endpoints: [this.#o.jobsBind], exposes: 'take jobs', logger, refused: metrics.handshakesRefused });
    await this.#workersSocket.bind(this.#o.jobsBind);
    this.#toSink.connect(this.#o.resultsConnect);
    this.#events.connect(this.#o.eventsConnect);
    this.#events.subscribe(topicOf('Recorded'), topicOf('BatchCompleted'));
    this.#running = true;
    this.#loops.push(
      receiveLoop(this.#workersSocket, {
        accept: ['Credit', 'Drain'],
        envelopeFrames: 1,
        maxMessageBytes: this.#o.maxMessageBytes,
        onMessage: (message, [routingId]) => {
          if (message.type === 'Credit') this.#onCredit(routingId!, message.worker, message.granted, message.received);
          else this.#onDrain(routingId!, message.worker, message.received);
        },
        onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { socket: 'workers', bytes, detail: error.message }),
      }),
      receiveLoop(this.#events, {
        accept: ['Recorded', 'BatchCompleted'],
        maxMessageBytes: this.#o.maxMessageBytes,
        onMessage: (message) => {
          if (message.type === 'Recorded') this.#onRecorded(message.batch, message.seqs);
          else this.#batchDone.get(message.summary.batch)?.(message.summary);
        },
        onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { socket: 'events', bytes, detail: error.message }),
      }),
      this.#dispatchLoop(),
    );
    this.#timers.push(
      setInterval(() => this.#dropSilentWorkers(), this.#o.heartbeatMs),
      setInterval(() => void this.#reap(), Math.min(REAP_EVERY_MS, Math.max(50, this.#o.leaseMs / 4))),
    );
    this.#o.logger.info({ jobs: this.#o.jobsBind, results: this.#o.resultsConnect, events: this.#o.eventsConnect, durable: this.#o.ledger.durable, curve: security.enabled }, 'ventilator started');
  }

  /**
   * Runs one batch: announces it to the sink, streams its split into jobs, and resolves with the
   * sink's summary once every job has a result or is a dead letter. Running a batch id again
   * resumes it: jobs already dispatched or done are skipped (ids are deterministic).
   */
  async runBatch(input: unknown, batchId = newBatchId(this.#o.pipeline.name)): Promise<BatchSummary> {
    const { pipeline, logger, ledger } = this.#o;
    // Checked here too: a batch queued by another client, or given as --input, never went through
    // submit. An invalid one fails before anything is written or split.
    const checked = await parseInput(pipeline, input);
    const { resumed, summary } = await ledger.begin(batchId, pipeline.name);
    if (summary) return summary;
    const done = this.#waitForDone(batchId);
    logger.info({ batch: batchId, resumed }, resumed ? 'batch resumed' : 'batch started');
    await this.#sinkSender.send(encode({ type: 'BatchStart', batch: batchId, pipeline: pipeline.name, startedAt: Date.now() }));
    const total = await this.#split(checked, batchId, resumed);
    await ledger.end(batchId, total);
    await this.#sinkSender.send(encode({ type: 'BatchEnd', batch: batchId, pipeline: pipeline.name, jobs: total }));
    logger.info({ batch: batchId, jobs: total }, 'batch split done');
    return done;
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const timer of this.#timers) clearInterval(timer);
    this.#changed.notify();
    this.#room.notify();
    await this.#toWorkers.idle().catch(() => {});
    await this.#sinkSender.idle().catch(() => {});
    this.#workersSocket.close();
    this.#toSink.close();
    this.#events.close();
    await Promise.allSettled(this.#loops);
    this.#o.logger.info({ inFlight: this.#inFlight.size }, 'ventilator stopped');
  }

  /** Streams the split into the dispatch queue, pausing while too much is out; returns the job count. */
  async #split(input: unknown, batchId: string, resumed: boolean): Promise<number> {
    const { pipeline, ledger, maxJobsPerMessage, maxInFlight, maxMessageBytes } = this.#o;
    const room = maxMessageBytes - JOBS_FRAME_SLACK_BYTES - JOB_OVERHEAD_BYTES - Buffer.byteLength(batchId);
    let seq = 0;
    // A resumed batch checks its jobs against the ledger a pack at a time; a new one needs not.
    let candidates: PendingJob[] = [];
    const flush = async () => {
      const jobs = candidates;
      candidates = [];
      const keep = new Set(await ledger.keepNew(batchId, jobs.map((job) => job.seq)));
      for (const job of jobs) if (keep.has(job.seq)) this.#fresh.push(job);
      this.#changed.notify();
    };
    // Split ahead up to maxInFlight jobs: memory stays bounded, and a batch's size is known as
    // early as it can be (progress and ETA need it).
    const full = () => this.#admitting + this.#inFlight.size + this.#fresh.length + this.#redeliveries.length + this.#isolation.queue.length >= maxInFlight;
    const accept = (payload: unknown): PendingJob => {
      let payloadJson: string;
      try {
        payloadJson = JSON.stringify(payload === undefined ? null : payload);
      } catch (error) {
        throw new PipelineError(`${pipeline.name}: split yielded a payload JSON cannot carry at job ${batchId}:${seq}: ${(error as Error).message}`);
      }
      // A job that cannot fit in a message could never be delivered: fail the batch, loudly.
      if (payloadJson.length * 3 > room && Buffer.byteLength(payloadJson) > room) {
        throw new PipelineError(`${pipeline.name}: job ${batchId}:${seq} has a payload of ${Buffer.byteLength(payloadJson)} bytes; messages are limited to ${maxMessageBytes} (JOBPIPE_MAX_MESSAGE_BYTES)`);
      }
      return { batch: batchId, seq: seq++, attempt: 1, payloadJson };
    };
    const enqueue = (job: PendingJob) => {
      this.#fresh.push(job);
      this.#changed.notify();
    };
    const step = async (payload: unknown): Promise<void> => {
      while (this.#running && full()) await this.#room.wait(1000);
      if (!this.#running) throw new Error(`ventilator stopped during batch ${batchId}`);
      const job = accept(payload);
      this.#splitSoFar.set(batchId, seq);
      if (!resumed) return enqueue(job);
      candidates.push(job);
      if (candidates.length >= maxJobsPerMessage) await flush();
    };
    const jobs = pipeline.split(input);
    if (Symbol.asyncIterator in jobs) {
      // `step` only when it may wait: awaiting an async function per job was the largest share
      // of the ventilator's allocation under a paced split.
      for await (const payload of jobs) {
        if (resumed || !this.#running || full()) {
          await step(payload);
        } else {
          enqueue(accept(payload));
          this.#splitSoFar.set(batchId, seq);
        }
      }
    } else {
      // A synchronous split is walked without a promise per job (`for await` made one each);
      // it still yields now and then, so credits and heartbeats are read while it runs.
      let sinceYield = 0;
      for (const payload of jobs as Iterable<unknown>) {
        if (resumed || !this.#running || full() || ++sinceYield >= SPLIT_YIELD_EVERY) {
          sinceYield = 0;
          await step(payload);
          await new Promise((resolve) => setImmediate(resolve));
        } else {
          enqueue(accept(payload));
        }
      }
    }
    if (candidates.length > 0) await flush();
    this.#splitSoFar.set(batchId, seq);
    return seq;
  }

  #waitForDone(batchId: string): Promise<BatchSummary> {
    return new Promise<BatchSummary>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (summary: BatchSummary) => {
        clearInterval(timer);
        this.#batchDone.delete(batchId);
        this.#splitSoFar.delete(batchId);
        resolve(summary);
      };
      this.#batchDone.set(batchId, finish);
      // Events are hints (PUB drops for a reconnecting subscriber); a durable ledger is the truth.
      if (this.#o.ledger.durable) {
        timer = setInterval(() => {
          this.#o.ledger.doneSummary(batchId).then((summary) => summary && finish(summary), () => {});
        }, DONE_POLL_MS);
      }
    });
  }

  async #dispatchLoop(): Promise<void> {
    // Deliveries under way, oldest first. The next pack is built while Redis writes the last
    // one ahead: awaiting each write-ahead before building the next left a core idle a fifth of
    // the time in durable runs.
    const deliveries: Promise<void>[] = [];
    while (this.#running) {
      if (deliveries.length >= WRITE_AHEADS_AT_ONCE) {
        await deliveries.shift();
        continue;
      }
      // A suspect goes alone to an idle worker; the others get ordinary jobs (see isolation.ts).
      const suspectTo = this.#isolation.target();
      const session = suspectTo ?? this.#workers.pick((s) => this.#isolation.open(s));
      const source = suspectTo ? this.#isolation.queue : this.#redeliveries.length > 0 ? this.#redeliveries : this.#fresh;
      if (!session || source.length === 0) {
        await this.#changed.wait();
        continue;
      }
      // One batch per message keeps the write-ahead to one ledger call; the pack also stays
      // under the message size limit, or the worker would drop it as too large.
      const batch = source[0]!.batch;
      const budget = this.#o.maxMessageBytes - JOBS_FRAME_SLACK_BYTES;
      const limit = suspectTo ? 1 : Math.min(this.#workers.available(session), this.#o.maxJobsPerMessage, source.length);
      let count = 0;
      let bytes = 0;
      while (count < limit && source[count]!.batch === batch) {
        bytes += source[count]!.payloadJson.length + JOB_OVERHEAD_BYTES + batch.length;
        if (count > 0 && bytes > budget) break;
        count++;
      }
      const jobs = source.splice(0, count);
      const dispatchedAt = Date.now();
      let frame = this.#jobsEncoder.encode(batch, dispatchedAt, jobs);
      // Payloads of multi-byte characters can still overshoot: send half now, the rest next.
      while (frame.length > this.#o.maxMessageBytes && jobs.length > 1) {
        source.unshift(...jobs.splice(jobs.length >> 1));
        frame = this.#jobsEncoder.encode(batch, dispatchedAt, jobs);
      }
      session.reserved += jobs.length;
      this.#admitting += jobs.length;
      deliveries.push(this.#deliver({ session, source, batch, jobs, frame, dispatchedAt }));
    }
    await Promise.all(deliveries);
  }

  /** Writes a pack ahead to the ledger, then sends it. */
  async #deliver(pack: { session: WorkerSession; source: PendingJob[]; batch: string; jobs: PendingJob[]; frame: Buffer; dispatchedAt: number }): Promise<void> {
    const { metrics, ledger, logger } = this.#o;
    const { session, source, batch, dispatchedAt } = pack;
    let { jobs, frame } = pack;
    // Started before any await: Redis answers write-aheads in the order they were sent, so the
    // packs leave in the order they were built.
    const admitted = ledger.admit(batch, jobs, dispatchedAt + this.#o.leaseMs, source === this.#fresh);
    let skipped: number[] | undefined;
    try {
      skipped = await admitted;
    } catch (error) {
      logger.error({ err: error, batch }, 'write-ahead failed; retrying');
    }
    session.reserved -= jobs.length;
    if (skipped === undefined) {
      // Redis is unreachable: nothing was sent, so the jobs go back in line after a pause.
      await new Promise((resolve) => setTimeout(resolve, 500));
      source.unshift(...jobs);
      this.#admitting -= jobs.length;
      this.#changed.notify();
    } else {
      this.#admitting -= jobs.length;
      // Recorded (a late result) or dead-lettered (a reservation that ran out: a ventilator that
      // restarted) while they waited here: sending them would run them once more.
      if (skipped.length > 0) {
        const gone = new Set(skipped);
        jobs = jobs.filter((job) => !gone.has(job.seq));
        if (jobs.length > 0) frame = this.#jobsEncoder.encode(batch, dispatchedAt, jobs);
      }
      if (jobs.length > 0) {
        for (const job of jobs) this.#inFlight.add(job, dispatchedAt, session.key);
        session.sent += jobs.length;
        session.lastSentAt = dispatchedAt;
        this.#room.notify();
        try {
          await this.#toWorkers.send([session.routingId, frame]);
          metrics.jobsDispatched.inc(this.#labels, jobs.length);
        } catch (error) {
          // EHOSTUNREACH: the worker disconnected. Its jobs go back in line.
          logger.warn({ worker: session.workerId, err: error }, 'worker unreachable; requeueing its jobs');
          await this.#forgetWorker(session, 'unreachable');
        }
      }
    }
    // A worker that asked to drain meanwhile is told how many jobs it gets, this pack counted.
    if (session.drainedOwed && session.reserved === 0) this.#sendDrained(session);
  }

  #onCredit(routingId: Buffer, workerId: string, granted: number, received: number): void {
    const known = this.#workers.get(routingId);
    const session = this.#workers.credit(routingId, workerId, granted, received);
    if (!known) this.#o.logger.info({ worker: workerId, credit: granted - received }, 'worker joined');
    if (this.#workers.available(session) > 0) this.#changed.notify();
  }

  #onDrain(routingId: Buffer, workerId: string, received: number): void {
    const { session, opened } = this.#workers.drain(routingId, workerId, received);
    // Forgotten, or opened before this ventilator started: the worker waits for nothing more.
    if (opened) this.#o.logger.info({ worker: workerId, received }, 'drain from an unknown session; answering with its own count');
    // Packs whose write-ahead is under way still go to it: it hears the count once they left.
    session.drainedOwed = true;
    if (session.reserved === 0) this.#sendDrained(session);
  }

  #sendDrained(session: WorkerSession): void {
    session.drainedOwed = false;
    // Logged once: a worker may repeat Drain, and each gets the same answer.
    if (!session.drainLogged) {
      session.drainLogged = true;
      this.#o.logger.info({ worker: session.workerId, sent: session.sent }, 'worker draining');
    }
    void this.#toWorkers.send([session.routingId, encode({ type: 'Drained', sent: session.sent })]).catch(() => {});
  }

  #onRecorded(batchId: string, seqs: number[]): void {
    let removed = 0;
    for (const seq of seqs) if (this.#inFlight.remove(batchId, seq)) removed++;
    if (removed > 0) this.#room.notify();
    // A worker may have become idle: a waiting suspect can go to it.
    if (removed > 0 && this.#isolation.queue.length > 0) this.#changed.notify();
  }

  #dropSilentWorkers(): void {
    for (const session of this.#workers.takeSilent()) {
      if (session.draining) this.#forgetDrainedWorker(session);
      else {
        this.#o.logger.warn({ worker: session.workerId }, 'worker silent for 3 heartbeats; requeueing its jobs');
        void this.#forgetWorker(session, 'silent for 3 heartbeats');
      }
    }
  }

  /**
   * A session that asked to drain and then went quiet has finished and exited, or is still
   * finishing its jobs without a heartbeat (PROTOCOL.md section 5 lets it): silence does not tell
   * a dead one from either, so its jobs are not taken back here. Their results may be on their
   * way to the sink; whatever has none when its lease runs out is sent again by the reaper.
   */
  #forgetDrainedWorker(session: WorkerSession): void {
    this.#workers.remove(session);
    this.#isolation.forget(session.key);
    const held = this.#inFlight.heldBy(session.key);
    this.#inFlight.forget(session.key);
    if (held === 0) this.#o.logger.info({ worker: session.workerId }, 'drained worker left');
    else this.#o.logger.info({ worker: session.workerId, held, leaseMs: this.#o.leaseMs }, 'drained worker quiet; its unrecorded jobs stay under their leases');
  }

  async #forgetWorker(session: WorkerSession, why: string): Promise<void> {
    this.#workers.remove(session);
    this.#isolation.forget(session.key);
    const held = this.#inFlight.takeHeldBy(session.key);
    this.#inFlight.forget(session.key);
    if (held.length === 0) return;
    try {
      this.#requeue(await this.#o.ledger.release(held, `worker ${session.workerId} went away (${why})`), `worker ${session.workerId} went away`);
    } catch (error) {
      this.#o.logger.error({ err: error }, 'could not release the jobs of a vanished worker; their leases will bring them back');
    }
  }

  async #reap(): Promise<void> {
    if (this.#reaping || !this.#running) return;
    this.#reaping = true;
    try {
      // Take no more than can go out soon: a taken job's reservation runs while it waits, and is
      // renewed while it still waits (suspects may wait for an idle worker).
      const waiting = this.#redeliveries.length + this.#isolation.queue.length;
      if (waiting > 0) await this.#o.ledger.hold([...this.#redeliveries, ...this.#isolation.queue]);
      const room = Math.max(0, this.#o.maxInFlight - this.#inFlight.size - waiting);
      if (room > 0) this.#requeue(await this.#o.ledger.due(this.#inFlight, room), 'lease expired or retry due');
    } catch (error) {
      this.#o.logger.error({ err: error }, 'lease check failed; retrying');
    } finally {
      this.#reaping = false;
    }
  }

  #requeue(requeue: Requeue, why: string): void {
    const { metrics, logger } = this.#o;
    const { redeliver, deadToReport, deadLettered } = requeue;
    if (redeliver.length === 0 && deadLettered === 0) return;
    for (const job of redeliver) (job.suspect ? this.#isolation.queue : this.#redeliveries).push(job);
    metrics.jobsRedelivered.inc(this.#labels, redeliver.length);
    if (deadLettered > 0) metrics.jobsDeadLettered.inc(this.#labels, deadLettered);
    logger.warn({ redeliver: redeliver.length, dead: deadLettered, why }, 'requeueing jobs');
    if (deadToReport.length > 0) this.#reportDead(deadToReport, why);
    this.#changed.notify();
  }

  // Without a durable ledger a dead letter is recorded at the sink as a failed result, so its batch can complete.
  #reportDead(jobs: InFlightJob[], why: string): void {
    const { logger, pipeline } = this.#o;
    for (const { job } of jobs) logger.error({ batch: job.batch, job: `${job.batch}:${job.seq}`, attempts: job.attempt, why }, 'dead letter');
    const results = jobs.map(({ job, dispatchedAt }) => ({
      batch: job.batch,
      seq: job.seq,
      attempt: job.attempt,
      dispatchedAt,
      durationMs: 0,
      ok: false as const,
      error: { name: WireErrorName.DeadLetter, message: `gave up after ${job.attempt} attempt(s): ${why}` },
    }));
    void this.#sinkSender.send(encode({ type: 'Results', pipeline: pipeline.name, worker: 'ventilator', results })).catch((error: Error) => {
      logger.error({ err: error }, 'could not report dead letters to the sink');
    });
  }
}

/** A batch id that sorts by time: `<pipeline>-<base36 ms>-<random>`. */
export function newBatchId(pipeline: string): string {
  return `${pipeline}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
