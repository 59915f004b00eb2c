import { encode, JobsFrameEncoder, type BatchSummary } from '@jobpipe/protocol';
import { CLOCK_TICK_MS, ReplicasBehindError, type CancelNotice, type DispatchLedger, type PendingJob } from '@jobpipe/ledger';
import { parseInput, type Pipeline } from '@jobpipe/pipeline';
import { JobSampler, tracing, type Logger } from '@jobpipe/observability';
import type { SendsFrames } from '@jobpipe/transport';
import { Backlog } from './backlog.js';
import { BatchCompletions } from './batch-completions.js';
import { BatchRepair } from './batch-repair.js';
import { DispatchGate, type TakeTokens } from './dispatch-gate.js';
import { Dispatcher } from './dispatcher.js';
import { LOWEST_PRIORITY } from './fresh-queues.js';
import { Isolation } from './isolation.js';
import { Reaper } from './reaper.js';
import { BatchCancelled, Splitter } from './splitter.js';
import type { CompiledVentilatorOptions } from './ventilator-options.js';
import { WorkerRegistry, type ByteCredit } from './worker-registry.js';
import { WorkerSessions } from './worker-sessions.js';

/** The W3C trace context a batch was submitted in (BatchRequest), if any: its jobs' spans join that trace. */
export interface BatchTraceContext {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

/** One lane's figures for the worker board (worker-board.ts). */
export interface LaneBoard {
  jobsWaiting: number;
  inFlight: number;
  workers: { key: string; id: string; slots: number | null; held: number; credit: number; sent: number; draining: boolean; lastSeenAt: number }[];
}

export interface PipelineLaneOptions {
  /** The ventilator's options; the pipeline's own parts come beside them. */
  options: CompiledVentilatorOptions;
  pipeline: Pipeline;
  ledger: DispatchLedger;
  takeTokens: TakeTokens;
  /** The ROUTER's sender, shared by every lane: `[routing id, frame]`. */
  toWorkers: SendsFrames;
  /** The sink's PUSH sender, shared by every lane. */
  toSink: SendsFrames;
  /** False once the ventilator stops. */
  running: () => boolean;
}

/**
 * One pipeline in a ventilator: its batches and single jobs, what they have out, and the workers
 * serving it with the credit each grants for it (a lane of their sessions, PROTOCOL.md 3.3). A
 * ventilator serving several pipelines runs a lane for each over one ROUTER: a lane sends a worker
 * only its own pipeline's jobs, against that pipeline's credit, so one pipeline's jobs never take
 * another's slots. Each step has a room of its own (splitter.ts, dispatcher.ts, reaper.ts,
 * worker-sessions.ts, and backlog.ts, which counts what is out).
 */
export class PipelineLane {
  readonly pipeline: Pipeline;
  readonly ledger: DispatchLedger;
  readonly #o: CompiledVentilatorOptions;
  readonly #logger: Logger;
  readonly #toSink: SendsFrames;
  readonly #toWorkers: SendsFrames;
  readonly #running: () => boolean;
  readonly #workers: WorkerRegistry;
  readonly #backlog: Backlog;
  readonly #splitter: Splitter;
  readonly #dispatcher: Dispatcher;
  readonly #reaper: Reaper;
  readonly #sessions: WorkerSessions;
  readonly #completions: BatchCompletions;
  readonly #repair: BatchRepair;
  readonly #gate: DispatchGate;
  readonly #writtenAhead: ((batch: string, jobs: readonly PendingJob[]) => void)[] = [];
  /** The batches' traces and the per-job sampling, when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT); undefined otherwise. */
  readonly #traces: JobSampler | undefined;

  constructor(lane: PipelineLaneOptions) {
    const o = (this.#o = lane.options);
    const { pipeline, ledger, toWorkers, toSink, running } = lane;
    this.pipeline = pipeline;
    this.ledger = ledger;
    this.#toSink = toSink;
    this.#toWorkers = toWorkers;
    this.#running = running;
    const { metrics } = o;
    // Every line a lane logs names its pipeline.
    const logger = (this.#logger = o.logger.child({ pipeline: pipeline.name }));
    const labels = { pipeline: pipeline.name };
    const tracer = tracing();
    const traces = (this.#traces = tracer && new JobSampler(tracer, pipeline.name));
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
      pipeline,
      ledger,
      backlog,
      maxJobsPerMessage: o.maxJobsPerMessage,
      maxMessageBytes: o.maxMessageBytes,
      running,
    });
    this.#reaper = new Reaper({ pipeline: pipeline.name, labels, ledger, backlog, toSink, logger, metrics, running });
    this.#sessions = new WorkerSessions({ workers, isolation, backlog, reaper: this.#reaper, logger, leaseMs: o.leaseMs });
    this.#gate = new DispatchGate(
      lane.takeTokens,
      () => backlog.changed.notify(),
      (error) => logger.warn({ err: error.message }, 'could not take rate-limit tokens; trying again'),
      () => metrics.rateLimitWaits.inc(labels),
    );
    this.#gate.set(false, o.rateLimit);
    this.#dispatcher = new Dispatcher({
      options: { ...o, labels },
      ledger,
      backlog,
      workers,
      isolation,
      encoder: new JobsFrameEncoder(pipeline.name),
      toWorkers,
      sessions: this.#sessions,
      logger,
      metrics,
      running,
      gate: this.#gate,
      ...(traces ? { traces } : {}),
      writtenAhead: (batch, jobs) => {
        for (const listener of this.#writtenAhead) listener(batch, jobs);
      },
      refuse: (jobs, dispatchedAt, error) => this.#reaper.refuse(jobs, dispatchedAt, error),
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
      this.#traces?.forget(batchId);
    });
    metrics.sampleGauge(metrics.jobsInflight, labels, () => backlog.inFlight.size);
    metrics.sampleGauge(metrics.workersConnected, labels, () => workers.size);
    metrics.sampleGauge(metrics.batchJobsSplit, labels, () => this.#splitter.splitSoFar);
    metrics.sampleGauge(metrics.batchesRunning, labels, () => this.#completions.size);
    metrics.sampleGauge(metrics.jobsWaiting, labels, () => backlog.jobsWaiting);
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

  get name(): string {
    return this.pipeline.name;
  }

  /** Jobs dispatched and not yet recorded. */
  get inFlight(): number {
    return this.#backlog.inFlight.size;
  }

  /** Worker sessions serving this pipeline that sent a heartbeat recently. */
  get workersConnected(): number {
    return this.#workers.size;
  }

  /** What the console shows of this pipeline here: its jobs waiting and in flight, and each worker session's load. */
  board(): LaneBoard {
    const backlog = this.#backlog;
    return {
      jobsWaiting: backlog.jobsWaiting,
      inFlight: backlog.inFlight.size,
      workers: [...this.#workers.sessions()].map((session) => ({
        key: session.key,
        id: session.workerId,
        slots: session.slots ?? null,
        held: backlog.inFlight.heldBy(session.key),
        credit: Math.max(0, session.granted - session.sent - session.reserved),
        sent: session.sent,
        draining: session.draining,
        lastSeenAt: session.lastSeenAt,
      })),
    };
  }

  /** Payload bytes held now, and at most so far. */
  get bytes(): { held: number; peak: number } {
    return { held: this.#backlog.bytes, peak: this.#backlog.peakBytes };
  }

  /** Starts the dispatch loop (resolves once the ventilator stops) and, with a durable ledger, the repair checks. */
  run(): Promise<void> {
    if (this.ledger.durable) this.#repair.start();
    return this.#dispatcher.run();
  }

  /** A Credit's counts for this pipeline from one worker session (a lane of a version 2 Credit, or a version 1 Credit). */
  credit(routingId: Buffer, workerId: string, granted: number, received: number, byteCredit?: ByteCredit, slots?: number): void {
    this.#sessions.credit(routingId, workerId, granted, received, byteCredit, slots);
  }

  /** Whether a worker session grants this pipeline credit. */
  serves(routingId: Buffer): boolean {
    return this.#workers.get(routingId) !== undefined;
  }

  /**
   * The session drains: nothing more goes to it. Resolves with the jobs this lane sent it, once
   * the packs being written ahead for it have left, or undefined when the lane does not know it.
   */
  drain(routingId: Buffer, workerId: string): Promise<number> | undefined {
    return this.#sessions.drain(routingId, workerId);
  }

  /** Every heartbeat interval: sessions silent for three are dropped. */
  dropSilent(): void {
    this.#sessions.dropSilent();
  }

  /** Looks for expired leases and due retries. */
  reap(): Promise<void> {
    return this.#reaper.reap();
  }

  /** The sink recorded these jobs (Recorded): they leave the in-flight set. A batch of another lane is no-op. */
  recorded(batch: string, seqs: number[]): void {
    this.#backlog.recorded(batch, seqs);
  }

  /** The sink completed a batch of this pipeline (BatchCompleted). */
  completed(summary: BatchSummary): void {
    this.#completions.completed(summary);
  }

  /**
   * Runs one batch: announces it to the sink, streams its split into jobs, and resolves with the
   * sink's summary once every job has a result or is a dead letter. Running a batch id again
   * resumes it: jobs already dispatched or done are skipped (ids are deterministic). Several
   * batches may run at once: they share the bound on jobs out, and the workers go to the highest
   * `priority` first (1 is the highest; none is the lowest), then to each batch in turn.
   */
  async runBatch(input: unknown, batchId: string, options: { priority?: number } & BatchTraceContext = {}): Promise<BatchSummary> {
    const { pipeline, ledger } = this;
    const logger = this.#logger;
    // Checked here too: a batch queued by another client, or given as --input, never went through
    // submit. An invalid one fails before anything is written or split.
    const checked = await parseInput(pipeline, input);
    const { resumed, summary, cancelled } = await ledger.begin(batchId, pipeline.name);
    if (summary) return summary;
    const done = this.#completions.wait(batchId);
    // Cancelled while it was queued: the sink completes it as such; nothing is split.
    if (cancelled) this.#backlog.cancel(batchId);
    this.#backlog.fresh.setPriority(batchId, options.priority);
    this.#traces?.beginBatch(batchId, options.traceparent, options.tracestate);
    logger.info({ batch: batchId, pipeline: pipeline.name, resumed }, resumed ? 'batch resumed' : 'batch started');
    await this.#startAtSink(batchId);
    let total: number;
    try {
      total = await this.#splitter.split(checked, batchId, resumed);
    } catch (error) {
      this.#backlog.fresh.forget(batchId);
      if (!(error instanceof BatchCancelled)) {
        // Failed (a payload above the message limit, a split that threw): what it split already
        // runs no further, and the sink completes it, so nothing of it stays in Redis for good.
        // Not so when this ventilator stops: the split ends with an error then too, and the batch
        // is handed back whole, for the next ventilator to resume.
        if (this.#running()) {
          this.#backlog.cancel(batchId);
          await ledger
            .abandon?.(batchId, pipeline.name)
            .catch((failed: Error) =>
              logger.warn({ batch: batchId, err: failed.message }, 'could not cancel a batch whose split failed; its keys stay until it is cancelled'),
            );
        }
        throw error;
      }
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
    const { summary } = await this.ledger.begin(batchId, this.pipeline.name);
    if (summary) return 0;
    await this.#startAtSink(batchId);
    const tally = { queued: 0 };
    const total = await this.#splitter.split(checked, batchId, true, tally);
    await this.#end(batchId, total);
    return tally.queued;
  }

  /** Tells the sink a batch (or bucket) begins. */
  async #startAtSink(batchId: string): Promise<void> {
    await this.#toSink.send(encode({ type: 'BatchStart', batch: batchId, pipeline: this.pipeline.name, startedAt: Date.now() }));
  }

  /**
   * The batch (or bucket) has `total` jobs: written to the ledger, then told to the sink. A write
   * that its replicas did not have in time (JOBPIPE_REDIS_WAIT_REPLICAS) is tried again while the
   * ventilator runs, as a write-ahead is: the batch waits for its replicas, it does not fail.
   */
  async #end(batchId: string, total: number): Promise<void> {
    for (;;) {
      try {
        const past = await this.ledger.end(batchId, total);
        if (past > 0)
          this.#logger.warn(
            { batch: batchId, total, removed: past },
            'results recorded for jobs past the end of the split were removed: a rogue or confused peer sent them',
          );
        break;
      } catch (error) {
        if (!(error instanceof ReplicasBehindError) || !this.#running()) throw error;
        this.#logger.warn({ batch: batchId, err: error.message }, 'the end of the split waits for the replicas');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    await this.#toSink.send(encode({ type: 'BatchEnd', batch: batchId, pipeline: this.pipeline.name, jobs: total }));
  }

  /**
   * Single jobs (single-jobs.ts) come in buckets: a bucket is a batch without a split, whose jobs
   * come from the pipeline's job stream. Begins one here: in the ledger (where another ventilator,
   * or this one before Redis went back in time, may have begun it already), with its priority,
   * announced to the sink. False when the bucket is done already (its entries were read again):
   * its jobs need nothing more.
   */
  async beginBucket(bucket: string, priority?: number): Promise<boolean> {
    const { pipeline, ledger } = this;
    const { summary } = await ledger.begin(bucket, pipeline.name);
    if (summary) return false;
    // Another ventilator may hold some of its jobs, or this one may read an entry again: the
    // write-ahead checks each job against the ledger.
    this.#backlog.fresh.setPriority(bucket, priority, true);
    // Single jobs come without a trace context: each bucket is a trace of its own.
    this.#traces?.beginBatch(bucket);
    // Begun again (its jobs read again after Redis went back in time): it is waited on already.
    if (!this.#completions.has(bucket))
      void this.#completions.wait(bucket).then((done) => this.#logger.debug({ batch: bucket, jobs: done.jobs }, 'bucket completed'));
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
   * serving the pipeline is told (Cancel, PROTOCOL.md 3.7a) to stop those it holds.
   */
  async cancel(notice: CancelNotice): Promise<void> {
    const { batch, seqs } = notice;
    const dropped = this.#backlog.cancel(batch, seqs);
    this.#backlog.changed.notify();
    const frame = encode({ type: 'Cancel', pipeline: this.pipeline.name, batch, ...(seqs ? { seqs } : {}) });
    const sessions = [...this.#workers.sessions()];
    this.#logger.info({ batch, jobs: seqs?.length, dropped, workers: sessions.length }, seqs ? 'jobs cancelled' : 'batch cancelled');
    await Promise.all(sessions.map((session) => this.#toWorkers.send([session.routingId, frame]).catch(() => {})));
  }

  /**
   * Redis went back in time (LedgerClock): what it lost is looked for at once in every batch of
   * this lane (BatchRepair), instead of at the next checks, and the leases Redis has from its past
   * (those running out within a lease from now, less two clock ticks for the time it took to
   * notice), in every running batch of the pipeline, are cut short: their jobs were most likely
   * done since (a completed batch may be running again), and would otherwise come back only when
   * those leases run out.
   */
  redisWentBack(): void {
    const logger = this.#logger;
    this.ledger.cutPastLeases(Date.now() + this.#o.leaseMs - 2 * CLOCK_TICK_MS).then(
      (leases) => logger.warn({ leases }, "leases from Redis's past cut short: their jobs are sent again now"),
      (error: Error) => logger.warn({ err: error.message }, "could not cut the leases from Redis's past short; their jobs come back when they run out"),
    );
    void this.#repair.checkSoon();
  }

  /** Batches waited on. */
  get batchesOpen(): number {
    return this.#completions.size;
  }

  /** Calls `listener` with each pack once it is written ahead, before it is sent. */
  onWrittenAhead(listener: (batch: string, jobs: readonly PendingJob[]) => void): void {
    this.#writtenAhead.push(listener);
  }

  /** Stops timers and wakes the loops waiting on the backlog, so that they see the ventilator stopped. */
  stop(): void {
    this.#repair.stop();
    this.#gate.stop();
    this.#backlog.changed.notify();
    this.#backlog.room.notify();
  }
}
