import { randomBytes } from 'node:crypto';
import { Push, Router, Subscriber } from 'zeromq';
import { encode, JobsFrameEncoder, topicOf, type BatchSummary } from '@jobpipe/protocol';
import { CLOCK_TICK_MS, ReplicasBehindError, type CancelNotice, type PendingJob } from '@jobpipe/ledger';
import { parseInput } from '@jobpipe/pipeline';
import { DroppedMessages } from '@jobpipe/observability';
import { baseOptions, boundedReceiveQueue, prepareServerBinds, receiveLoop, SerialSender } from '@jobpipe/transport';
import { Backlog } from './backlog.js';
import { BatchCompletions } from './batch-completions.js';
import { BatchRepair } from './batch-repair.js';
import { DispatchGate } from './dispatch-gate.js';
import { Dispatcher } from './dispatcher.js';
import { LOWEST_PRIORITY } from './fresh-queues.js';
import { Isolation } from './isolation.js';
import { Reaper } from './reaper.js';
import { BatchCancelled, Splitter } from './splitter.js';
import { compileVentilatorOptions, type CompiledVentilatorOptions, type VentilatorOptions } from './ventilator-options.js';
import { WorkerRegistry } from './worker-registry.js';
import { WorkerSessions } from './worker-sessions.js';

/**
 * The ventilator role: streams a batch's split into jobs, writes each to the ledger before it
 * leaves, and sends jobs to workers only against the credit they grant. This class is the shell:
 * the sockets, the lifecycle and a batch's run; each step has a room of its own (splitter.ts,
 * dispatcher.ts, reaper.ts, worker-sessions.ts, and backlog.ts, which counts what is out).
 */
export class Ventilator {
  readonly #o: CompiledVentilatorOptions;
  readonly #workersSocket: Router;
  readonly #toWorkers: SerialSender;
  readonly #toSink: Push;
  readonly #sinkSender: SerialSender;
  readonly #events: Subscriber;
  readonly #workers: WorkerRegistry;
  readonly #backlog: Backlog;
  readonly #splitter: Splitter;
  readonly #dispatcher: Dispatcher;
  readonly #reaper: Reaper;
  readonly #sessions: WorkerSessions;
  readonly #completions: BatchCompletions;
  readonly #repair: BatchRepair;
  readonly #dropped: DroppedMessages;
  readonly #gate: DispatchGate;
  #running = false;
  #loops: Promise<unknown>[] = [];
  readonly #writtenAhead: ((batch: string, jobs: readonly PendingJob[]) => void)[] = [];
  #timers: NodeJS.Timeout[] = [];

  /** @throws OptionError when an option is invalid (ventilator-options.ts). */
  constructor(options: VentilatorOptions) {
    const o = (this.#o = compileVentilatorOptions(options));
    const { logger, metrics, labels, ledger, security } = o;
    const running = () => this.#running;
    this.#dropped = new DroppedMessages('ventilator', metrics, logger);
    const socketOptions = baseOptions({ maxMessageBytes: o.maxMessageBytes });
    // mandatory: a send to a worker that has gone fails at once instead of vanishing silently.
    this.#workersSocket = new Router({
      ...socketOptions,
      ...boundedReceiveQueue({ maxMessageBytes: o.maxMessageBytes }),
      ...security.bindOptions(),
      mandatory: true,
      handover: true,
    });
    this.#toWorkers = new SerialSender(this.#workersSocket);
    this.#toSink = new Push({ ...socketOptions, ...security.connectOptions() });
    this.#sinkSender = new SerialSender(this.#toSink);
    this.#events = new Subscriber({ ...socketOptions, ...security.connectOptions() });
    const workers = (this.#workers = new WorkerRegistry(o.heartbeatMs));
    const isolation: Isolation = new Isolation(workers, (key: string): number => backlog.inFlight.heldBy(key) + (workers.byKey(key)?.reserved ?? 0));
    const backlog: Backlog = (this.#backlog = new Backlog(
      {
        maxInFlight: o.maxInFlight,
        maxInFlightBytes: o.maxInFlightBytes,
        shareWhenFull: o.shareWhenFull,
        shareBytesWhenFull: o.shareBytesWhenFull,
        keepsPayloads: !ledger.durable,
      },
      isolation.queue,
    ));
    this.#splitter = new Splitter({
      pipeline: o.pipeline,
      ledger,
      backlog,
      maxJobsPerMessage: o.maxJobsPerMessage,
      maxMessageBytes: o.maxMessageBytes,
      running,
    });
    this.#reaper = new Reaper({ pipeline: o.pipeline.name, labels, ledger, backlog, toSink: this.#sinkSender, logger, metrics, running });
    this.#sessions = new WorkerSessions({ workers, isolation, backlog, reaper: this.#reaper, toWorkers: this.#toWorkers, logger, leaseMs: o.leaseMs });
    const encoder = new JobsFrameEncoder(o.pipeline.name);
    this.#gate = new DispatchGate(
      o.takeTokens,
      () => backlog.changed.notify(),
      (error) => logger.warn({ err: error.message }, 'could not take rate-limit tokens; trying again'),
      () => metrics.rateLimitWaits.inc(labels),
    );
    this.#gate.set(false, o.rateLimit);
    this.#dispatcher = new Dispatcher({
      options: o,
      ledger,
      backlog,
      workers,
      isolation,
      encoder,
      toWorkers: this.#toWorkers,
      sessions: this.#sessions,
      logger,
      metrics,
      running,
      gate: this.#gate,
      writtenAhead: (batch, jobs) => {
        for (const listener of this.#writtenAhead) listener(batch, jobs);
      },
    });
    this.#repair = new BatchRepair({
      ledger,
      holdsUnwritten: (batch) => backlog.holdsUnwritten(batch),
      logger,
      metrics,
      labels,
      everyMs: o.repairCheckMs,
    });
    this.#completions = new BatchCompletions(ledger, (batchId) => {
      this.#repair.forget(batchId);
      this.#splitter.forget(batchId);
      backlog.fresh.forget(batchId);
      backlog.forgetCancels(batchId);
    });
    metrics.sampleGauge(metrics.jobsInflight, labels, () => backlog.inFlight.size);
    metrics.sampleGauge(metrics.workersConnected, labels, () => workers.size);
    metrics.sampleGauge(metrics.batchJobsSplit, labels, () => this.#splitter.splitSoFar);
    metrics.sampleGauge(metrics.batchesRunning, labels, () => this.#completions.size);
    metrics.sampleGauge(metrics.jobsWaiting, labels, () => backlog.fresh.length + backlog.redeliveries.length + backlog.suspects.length);
    metrics.sampleGauge(metrics.payloadBytesHeld, labels, () => backlog.bytes);
    metrics.sampleGaugeSeries(metrics.freshJobsWaiting, () =>
      [...backlog.fresh.waitingByPriority()].map(([priority, jobs]) => [
        { ...labels, priority: priority === LOWEST_PRIORITY ? 'none' : String(priority) },
        jobs,
      ]),
    );
    metrics.sampleGauge(metrics.pipelinePaused, labels, () => (this.#gate.paused ? 1 : 0));
    metrics.sampleGauge(metrics.rateLimit, labels, () => this.#gate.rate);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Jobs dispatched and not yet recorded. */
  get inFlight(): number {
    return this.#backlog.inFlight.size;
  }

  /** Worker sessions that sent a heartbeat recently. */
  get workersConnected(): number {
    return this.#workers.size;
  }

  async start(): Promise<void> {
    const { logger, metrics, security, jobsBind, resultsConnect, eventsConnect, maxMessageBytes } = this.#o;
    await prepareServerBinds(security, { role: 'ventilator', endpoints: [jobsBind], exposes: 'take jobs', logger, refused: metrics.handshakesRefused });
    await this.#workersSocket.bind(jobsBind);
    this.#toSink.connect(resultsConnect);
    this.#events.connect(eventsConnect);
    this.#events.subscribe(topicOf('Recorded'), topicOf('BatchCompleted'));
    this.#running = true;
    this.#loops.push(
      receiveLoop(this.#workersSocket, {
        accept: ['Credit', 'Drain'],
        envelopeFrames: 1,
        maxMessageBytes,
        onMessage: (message, [routingId]) => {
          if (message.type === 'Credit') {
            const { grantedBytes, receivedBytes } = message;
            // Both or neither (PROTOCOL.md 4a): one alone is read as credit in jobs only.
            const byteCredit = grantedBytes !== undefined && receivedBytes !== undefined ? { grantedBytes, receivedBytes } : undefined;
            this.#sessions.credit(routingId!, message.worker, message.granted, message.received, byteCredit);
          } else this.#sessions.drain(routingId!, message.worker, message.received);
        },
        onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { socket: 'workers', bytes, detail: error.message }),
      }),
      receiveLoop(this.#events, {
        accept: ['Recorded', 'BatchCompleted'],
        maxMessageBytes,
        onMessage: (message) => {
          if (message.type === 'Recorded') this.#backlog.recorded(message.batch, message.seqs);
          else this.#completions.completed(message.summary);
        },
        onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { socket: 'events', bytes, detail: error.message }),
      }),
      this.#dispatcher.run(),
    );
    if (this.#o.ledger.durable) this.#repair.start();
    this.#timers.push(
      setInterval(() => this.#sessions.dropSilent(), this.#o.heartbeatMs),
      setInterval(() => void this.#reaper.reap(), this.#o.reapEveryMs),
    );
    logger.info(
      { jobs: jobsBind, results: resultsConnect, events: eventsConnect, durable: this.#o.ledger.durable, curve: security.enabled },
      'ventilator started',
    );
  }

  /**
   * Runs one batch: announces it to the sink, streams its split into jobs, and resolves with the
   * sink's summary once every job has a result or is a dead letter. Running a batch id again
   * resumes it: jobs already dispatched or done are skipped (ids are deterministic). Several
   * batches may run at once: they share the bound on jobs out, and the workers go to the highest
   * `priority` first (1 is the highest; none is the lowest), then to each batch in turn.
   */
  async runBatch(input: unknown, batchId = newBatchId(this.#o.pipeline.name), options: { priority?: number } = {}): Promise<BatchSummary> {
    const { pipeline, logger, ledger } = this.#o;
    // Checked here too: a batch queued by another client, or given as --input, never went through
    // submit. An invalid one fails before anything is written or split.
    const checked = await parseInput(pipeline, input);
    const { resumed, summary, cancelled } = await ledger.begin(batchId, pipeline.name);
    if (summary) return summary;
    const done = this.#completions.wait(batchId);
    // Cancelled while it was queued: the sink completes it as such; nothing is split.
    if (cancelled) this.#backlog.cancel(batchId);
    this.#backlog.fresh.setPriority(batchId, options.priority);
    logger.info({ batch: batchId, resumed }, resumed ? 'batch resumed' : 'batch started');
    await this.#startAtSink(batchId);
    let total: number;
    try {
      total = await this.#splitter.split(checked, batchId, resumed);
    } catch (error) {
      this.#backlog.fresh.forget(batchId);
      if (!(error instanceof BatchCancelled)) throw error;
      logger.info({ batch: batchId }, 'batch cancelled during its split');
      return done;
    }
    await this.#end(batchId, total);
    logger.info({ batch: batchId, jobs: total }, 'batch split done');
    this.#repair.watch(batchId, () => this.#splitAgain(checked, batchId));
    return done;
  }

  /**
   * BatchRepair found jobs of the batch that Redis lost: the split runs again as for a resumed
   * batch, so only the jobs the ledger does not have are queued. Begun again first: the begin
   * makes a meta hash Redis lost anew, and marks the batch resumed, so its write-aheads check
   * each job. Resolves with the jobs queued.
   */
  async #splitAgain(checked: unknown, batchId: string): Promise<number> {
    const { pipeline, ledger } = this.#o;
    const { summary } = await ledger.begin(batchId, pipeline.name);
    if (summary) return 0;
    await this.#startAtSink(batchId);
    const tally = { queued: 0 };
    const total = await this.#splitter.split(checked, batchId, true, tally);
    await this.#end(batchId, total);
    return tally.queued;
  }

  /** Tells the sink a batch (or bucket) begins. */
  async #startAtSink(batchId: string): Promise<void> {
    await this.#sinkSender.send(encode({ type: 'BatchStart', batch: batchId, pipeline: this.#o.pipeline.name, startedAt: Date.now() }));
  }

  /**
   * The batch (or bucket) has `total` jobs: written to the ledger, then told to the sink. A write
   * that its replicas did not have in time (JOBPIPE_REDIS_WAIT_REPLICAS) is tried again while the
   * ventilator runs, as a write-ahead is: the batch waits for its replicas, it does not fail.
   */
  async #end(batchId: string, total: number): Promise<void> {
    for (;;) {
      try {
        await this.#o.ledger.end(batchId, total);
        break;
      } catch (error) {
        if (!(error instanceof ReplicasBehindError) || !this.#running) throw error;
        this.#o.logger.warn({ batch: batchId, err: error.message }, 'the end of the split waits for the replicas');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    await this.#sinkSender.send(encode({ type: 'BatchEnd', batch: batchId, pipeline: this.#o.pipeline.name, jobs: total }));
  }

  /**
   * Single jobs (single-jobs.ts) come in buckets: a bucket is a batch without a split, whose jobs
   * come from the pipeline's job stream. Begins one here: in the ledger (where another ventilator
   * may have begun it already), with its priority, announced to the sink. False when the bucket
   * is done already (its entries were read again): its jobs need nothing more.
   */
  async beginBucket(bucket: string, priority?: number): Promise<boolean> {
    const { pipeline, ledger, logger } = this.#o;
    const { summary } = await ledger.begin(bucket, pipeline.name);
    if (summary) return false;
    // Another ventilator may hold some of its jobs, or this one may read an entry again: the
    // write-ahead checks each job against the ledger.
    this.#backlog.fresh.setPriority(bucket, priority, true);
    void this.#completions.wait(bucket).then((done) => logger.debug({ batch: bucket, jobs: done.jobs }, 'bucket completed'));
    await this.#startAtSink(bucket);
    return true;
  }

  /** Jobs of a begun bucket, in line to be sent. */
  addJobs(jobs: readonly PendingJob[]): void {
    this.#backlog.addFreshJobs(jobs);
  }

  /** A bucket takes no more jobs: it has `total`, and completes once each has a result or is dead. */
  async endBucket(bucket: string, total: number): Promise<void> {
    await this.#end(bucket, total);
  }

  /** Whether `batch` may queue more jobs now (Backlog.mayAdd): single jobs are read only then. */
  mayAdd(batch: string): boolean {
    return this.#backlog.mayAdd(batch);
  }

  /** Waits up to `ms` for jobs to leave (the backlog to have room). */
  async roomChanged(ms: number): Promise<void> {
    await this.#backlog.room.wait(ms);
  }

  /**
   * What an operator set for the pipeline (`jobpipe pause`, `jobpipe limit`): while paused no job
   * is sent (those out run on); `rateLimit` jobs per second at most, undefined for this
   * ventilator's own (JOBPIPE_RATE_LIMIT), 0 for none.
   */
  setControls(paused: boolean, rateLimit: number | undefined): void {
    this.#gate.set(paused, rateLimit ?? this.#o.rateLimit);
  }

  /** Whether the pipeline is paused, and its rate limit (0: none), as this ventilator applies them. */
  get controls(): { paused: boolean; rateLimit: number } {
    return { paused: this.#gate.paused, rateLimit: this.#gate.rate };
  }

  /**
   * A batch, or jobs of it, was cancelled (`jobpipe cancel`; the ledger has them out already):
   * what waits here of them is dropped and never sent, a split under way stops, and every worker
   * is told (Cancel, PROTOCOL.md 3.7a) to stop those it holds. Workers that hold none ignore it.
   */
  async cancel(notice: CancelNotice): Promise<void> {
    const { batch, seqs } = notice;
    const dropped = this.#backlog.cancel(batch, seqs);
    this.#backlog.changed.notify();
    const frame = encode({ type: 'Cancel', pipeline: this.#o.pipeline.name, batch, ...(seqs ? { seqs } : {}) });
    const sessions = [...this.#workers.sessions()];
    this.#o.logger.info({ batch, jobs: seqs?.length, dropped, workers: sessions.length }, seqs ? 'jobs cancelled' : 'batch cancelled');
    await Promise.all(sessions.map((session) => this.#toWorkers.send([session.routingId, frame]).catch(() => {})));
  }

  /**
   * Redis went back in time (LedgerClock): what it lost is looked for at once in every batch
   * this ventilator runs (BatchRepair), instead of at the next checks, and the leases Redis has
   * from its past (those running out within a lease from now, less two clock ticks for the time
   * it took to notice), in every running batch of the pipeline, are cut short: their jobs
   * were most likely done since (a completed batch may be running again), and would otherwise
   * come back only when those leases run out.
   */
  redisWentBack(now?: number, seen?: number): void {
    const { logger, metrics, ledger, leaseMs } = this.#o;
    metrics.redisWentBack.inc({ role: 'ventilator' });
    logger.error(
      { clock: now, seen, noticedBy: now === undefined ? 'another role' : 'this one', batches: this.#completions.size },
      'Redis went back in time: it lost writes it had acknowledged; looking for lost jobs now',
    );
    ledger.cutPastLeases(Date.now() + leaseMs - 2 * CLOCK_TICK_MS).then(
      (leases) => logger.warn({ leases }, "leases from Redis's past cut short: their jobs are sent again now"),
      (error: Error) => logger.warn({ err: error.message }, "could not cut the leases from Redis's past short; their jobs come back when they run out"),
    );
    void this.#repair.checkSoon();
  }

  /** Calls `listener` with each pack once it is written ahead, before it is sent. */
  onWrittenAhead(listener: (batch: string, jobs: readonly PendingJob[]) => void): void {
    this.#writtenAhead.push(listener);
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const timer of this.#timers) clearInterval(timer);
    this.#repair.stop();
    this.#gate.stop();
    this.#backlog.changed.notify();
    this.#backlog.room.notify();
    await this.#toWorkers.idle().catch(() => {});
    await this.#sinkSender.idle().catch(() => {});
    this.#workersSocket.close();
    this.#toSink.close();
    this.#events.close();
    await Promise.allSettled(this.#loops);
    this.#o.logger.info(
      { inFlight: this.#backlog.inFlight.size, peakPayloadBytes: this.#backlog.peakBytes, maxInFlightBytes: this.#o.maxInFlightBytes },
      'ventilator stopped',
    );
  }
}

/** A batch id that sorts by time: `<pipeline>-<base36 ms>-<random>`. */
export function newBatchId(pipeline: string): string {
  return `${pipeline}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
