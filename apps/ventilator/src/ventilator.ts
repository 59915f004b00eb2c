import { randomBytes } from 'node:crypto';
import { Push, Router, Subscriber } from 'zeromq';
import { encode, topicOf, type BatchSummary, type Job, type ProtocolError } from '@jobpipe/protocol';
import type { Pipeline } from '@jobpipe/pipeline';
import type { Logger, Metrics } from '@jobpipe/observability';
import { baseOptions, receiveLoop, SerialSender } from '@jobpipe/transport';
import { InFlight } from './in-flight.js';
import { Signal } from './signal.js';
import { WorkerRegistry, type WorkerSession } from './worker-registry.js';

export interface VentilatorOptions {
  pipeline: Pipeline;
  jobsBind: string;
  resultsConnect: string;
  eventsConnect: string;
  maxInFlight: number;
  maxJobsPerMessage: number;
  leaseMs: number;
  maxAttempts: number;
  heartbeatMs: number;
  maxMessageBytes: number;
  logger: Logger;
  metrics: Metrics;
}

type PendingJob = Omit<Job, 'dispatchedAt'>;

/**
 * The ventilator role: runs a batch's split, keeps every dispatched job in flight until the sink
 * records it, and sends jobs to workers only against the credit they grant.
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
  readonly #changed = new Signal();
  readonly #room = new Signal();
  readonly #batchDone = new Map<string, (summary: BatchSummary) => void>();
  readonly #labels: { pipeline: string };
  #running = false;
  #loops: Promise<unknown>[] = [];
  #timers: NodeJS.Timeout[] = [];

  constructor(options: VentilatorOptions) {
    this.#o = options;
    this.#labels = { pipeline: options.pipeline.name };
    const socketOptions = baseOptions({ maxMessageBytes: options.maxMessageBytes });
    // mandatory: a send to a worker that has gone fails at once instead of vanishing silently.
    this.#workersSocket = new Router({ ...socketOptions, mandatory: true, handover: true });
    this.#toWorkers = new SerialSender(this.#workersSocket);
    this.#toSink = new Push({ ...socketOptions });
    this.#sinkSender = new SerialSender(this.#toSink);
    this.#events = new Subscriber({ ...socketOptions });
    this.#workers = new WorkerRegistry(options.heartbeatMs);
  }

  get ready(): boolean {
    return this.#running;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  async start(): Promise<void> {
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
          else this.#onDrain(routingId!, message.worker);
        },
        onMalformed: (error, _envelope, bytes) => this.#malformed(error, bytes, 'workers'),
      }),
      receiveLoop(this.#events, {
        accept: ['Recorded', 'BatchCompleted'],
        maxMessageBytes: this.#o.maxMessageBytes,
        onMessage: (message) => {
          if (message.type === 'Recorded') this.#onRecorded(message.batch, message.seqs);
          else this.#batchDone.get(message.summary.batch)?.(message.summary);
        },
        onMalformed: (error, _envelope, bytes) => this.#malformed(error, bytes, 'events'),
      }),
      this.#dispatchLoop(),
    );
    this.#timers.push(
      setInterval(() => this.#dropSilentWorkers(), this.#o.heartbeatMs),
      setInterval(() => this.#expireLeases(), Math.max(50, Math.min(1000, this.#o.leaseMs / 4))),
    );
    this.#o.logger.info({ jobs: this.#o.jobsBind, results: this.#o.resultsConnect, events: this.#o.eventsConnect }, 'ventilator started');
  }

  /**
   * Runs one batch: announces it to the sink, streams its split into jobs, and resolves with the
   * sink's summary once every job has a recorded result.
   */
  async runBatch(input: unknown, batchId = newBatchId(this.#o.pipeline.name)): Promise<BatchSummary> {
    const { pipeline, logger } = this.#o;
    const done = new Promise<BatchSummary>((resolve) => this.#batchDone.set(batchId, resolve));
    logger.info({ batch: batchId }, 'batch started');
    await this.#sinkSender.send(encode({ type: 'BatchStart', batch: batchId, pipeline: pipeline.name, startedAt: Date.now() }));
    let seq = 0;
    for await (const payload of pipeline.split(input)) {
      while (this.#running && (this.#fresh.length >= 2 * this.#o.maxJobsPerMessage || this.#inFlight.size + this.#fresh.length >= this.#o.maxInFlight)) {
        await this.#room.wait(1000);
      }
      if (!this.#running) throw new Error(`ventilator stopped during batch ${batchId}`);
      this.#fresh.push({ batch: batchId, seq: seq++, attempt: 1, payload: payload === undefined ? null : payload });
      this.#changed.notify();
    }
    await this.#sinkSender.send(encode({ type: 'BatchEnd', batch: batchId, pipeline: pipeline.name, jobs: seq }));
    logger.info({ batch: batchId, jobs: seq }, 'batch split done');
    try {
      return await done;
    } finally {
      this.#batchDone.delete(batchId);
    }
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

  async #dispatchLoop(): Promise<void> {
    const { metrics } = this.#o;
    while (this.#running) {
      const session = this.#workers.pick();
      const source = this.#redeliveries.length > 0 ? this.#redeliveries : this.#fresh;
      if (!session || source.length === 0) {
        await this.#changed.wait();
        continue;
      }
      const count = Math.min(this.#workers.available(session), this.#o.maxJobsPerMessage, source.length);
      const dispatchedAt = Date.now();
      let jobs: Job[] = source.splice(0, count).map((job) => ({ ...job, dispatchedAt }));
      let frame: Buffer;
      try {
        frame = encode({ type: 'Jobs', pipeline: this.#o.pipeline.name, jobs });
      } catch {
        jobs = this.#dropUnencodable(jobs);
        if (jobs.length === 0) continue;
        frame = encode({ type: 'Jobs', pipeline: this.#o.pipeline.name, jobs });
      }
      for (const job of jobs) this.#inFlight.add(job, session.key);
      session.sent += jobs.length;
      session.lastSentAt = dispatchedAt;
      this.#room.notify();
      try {
        await this.#toWorkers.send([session.routingId, frame]);
        metrics.jobsDispatched.inc(this.#labels, jobs.length);
        metrics.jobsInflight.set(this.#labels, this.#inFlight.size);
      } catch (error) {
        // EHOSTUNREACH: the worker disconnected. Its jobs go back in line at once.
        this.#o.logger.warn({ worker: session.workerId, err: error }, 'worker unreachable; requeueing its jobs');
        this.#forgetWorker(session);
      }
    }
  }

  // The split yielded something JSON cannot carry (a BigInt, a cycle): those jobs fail at once.
  #dropUnencodable(jobs: Job[]): Job[] {
    const good: Job[] = [];
    const bad: Job[] = [];
    for (const job of jobs) {
      try {
        JSON.stringify(job.payload);
        good.push(job);
      } catch {
        bad.push(job);
      }
    }
    if (bad.length > 0) this.#deadLetter(bad, 'payload is not JSON-serializable');
    return good;
  }

  #onCredit(routingId: Buffer, workerId: string, granted: number, received: number): void {
    const known = this.#workers.get(routingId);
    const session = this.#workers.credit(routingId, workerId, granted, received);
    if (!known) {
      this.#o.logger.info({ worker: workerId, credit: granted - received }, 'worker joined');
      this.#o.metrics.workersConnected.set(this.#labels, this.#workers.size);
    }
    if (this.#workers.available(session) > 0) this.#changed.notify();
  }

  #onDrain(routingId: Buffer, workerId: string): void {
    const session = this.#workers.get(routingId);
    const sent = session?.sent ?? 0;
    if (session) session.draining = true;
    this.#o.logger.info({ worker: workerId, sent }, 'worker draining');
    void this.#toWorkers.send([routingId, encode({ type: 'Drained', sent })]).catch(() => {});
  }

  #onRecorded(batchId: string, seqs: number[]): void {
    let removed = 0;
    for (const seq of seqs) if (this.#inFlight.remove(batchId, seq)) removed++;
    if (removed > 0) {
      this.#o.metrics.jobsInflight.set(this.#labels, this.#inFlight.size);
      this.#room.notify();
    }
  }

  #dropSilentWorkers(): void {
    for (const session of this.#workers.takeSilent()) {
      this.#o.logger.warn({ worker: session.workerId }, 'worker silent for 3 heartbeats; requeueing its jobs');
      this.#forgetWorker(session);
    }
  }

  #forgetWorker(session: WorkerSession): void {
    this.#workers.remove(session);
    this.#o.metrics.workersConnected.set(this.#labels, this.#workers.size);
    this.#requeue(this.#inFlight.takeHeldBy(session.key), `worker ${session.workerId} went away`);
  }

  #expireLeases(): void {
    const expired = this.#inFlight.takeExpired(Date.now() - this.#o.leaseMs);
    if (expired.length > 0) this.#requeue(expired, 'lease expired');
  }

  #requeue(jobs: Job[], why: string): void {
    if (jobs.length === 0) return;
    const { metrics, logger, maxAttempts } = this.#o;
    const dead: Job[] = [];
    for (const job of jobs) {
      if (job.attempt >= maxAttempts) dead.push(job);
      else this.#redeliveries.push({ batch: job.batch, seq: job.seq, attempt: job.attempt + 1, payload: job.payload });
    }
    metrics.jobsRedelivered.inc(this.#labels, jobs.length - dead.length);
    metrics.jobsInflight.set(this.#labels, this.#inFlight.size);
    logger.warn({ jobs: jobs.length, dead: dead.length, why }, 'requeueing jobs');
    if (dead.length > 0) this.#deadLetter(dead, why);
    this.#changed.notify();
  }

  // A dead letter is recorded at the sink as a failed result, so its batch can still complete.
  #deadLetter(jobs: Job[], why: string): void {
    const { metrics, logger, pipeline, maxAttempts } = this.#o;
    metrics.jobsDeadLettered.inc(this.#labels, jobs.length);
    for (const job of jobs) logger.error({ batch: job.batch, job: `${job.batch}:${job.seq}`, attempts: job.attempt, why }, 'dead letter');
    const results = jobs.map((job) => ({
      batch: job.batch,
      seq: job.seq,
      attempt: job.attempt,
      dispatchedAt: job.dispatchedAt,
      durationMs: 0,
      ok: false as const,
      error: { name: 'DeadLetter', message: `gave up after ${Math.min(job.attempt, maxAttempts)} attempt(s): ${why}` },
    }));
    void this.#sinkSender.send(encode({ type: 'Results', pipeline: pipeline.name, worker: 'ventilator', results })).catch((error: Error) => {
      logger.error({ err: error }, 'could not report dead letters to the sink');
    });
  }

  #malformed(error: ProtocolError, bytes: number, socket: string): void {
    this.#o.metrics.malformedMessages.inc({ role: 'ventilator', reason: error.reason });
    this.#o.logger.warn({ socket, reason: error.reason, bytes, detail: error.message }, 'dropped a malformed message');
  }
}

/** A batch id that sorts by time: `<pipeline>-<base36 ms>-<random>`. */
export function newBatchId(pipeline: string): string {
  return `${pipeline}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
