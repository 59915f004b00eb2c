import { randomBytes } from 'node:crypto';
import { Dealer, Push } from 'zeromq';
import { encode, WireErrorName, type HandlerSpan, type Job, type JobResult } from '@jobpipe/protocol';
import { DroppedMessages, randomSpanId, sampledParent, settleWithin } from '@jobpipe/observability';
import { baseOptions, PackingQueue, receiveLoop, reconnectWhenAbandoned, retryRefusedHandshakes, SerialSender } from '@jobpipe/transport';
import { ByteWindow } from './byte-window.js';
import { CreditWindow } from './credit-window.js';
import { CancelledError, describeError } from './errors.js';
import type { Outcome } from './executor.js';
import { compileWorkerOptions, type CompiledWorkerOptions, type WorkerOptions } from './worker-options.js';

/** A job on hand, with its share of the bytes of the message it came in (ByteWindow). */
interface HeldJob {
  job: Job;
  bytes: number;
  /** The handler's span, for a job that came with a sampled traceparent. */
  span?: TracedRun | undefined;
}

/**
 * A traced job's handler run: its span's context and the rest of it, which travel on the job's
 * result for the sink to export (PROTOCOL.md 3.2, "The handler's span"). The worker exports
 * nothing itself, so it needs no tracing settings and no export thread.
 */
interface TracedRun {
  traceparent: string;
  handlerSpan: HandlerSpan;
}

/**
 * The worker role for one pipeline: asks the ventilator for that pipeline's jobs against credit
 * (in jobs and in bytes), runs them with the executor, and pushes results to the sink, packed
 * when they pile up. A process serving several pipelines runs one Worker for each: each its own
 * session, slots and byte window (PROTOCOL.md 3.3 lets one session carry several lanes too).
 */
export class Worker {
  /** The options it runs with: defaults filled in, checked. */
  readonly options: CompiledWorkerOptions;
  readonly #jobs: Dealer;
  readonly #results: Push;
  readonly #control: SerialSender;
  readonly #resultQueue: PackingQueue<JobResult>;
  readonly #window: CreditWindow;
  /** Jobs received by the last heartbeat: none more since, and none held, is idle. */
  #receivedAtBeat = 0;
  readonly #bytes: ByteWindow;
  readonly #waiting: HeldJob[] = [];
  /** The byte shares of the results in the result queue, in the same order: freed as they leave. */
  readonly #resultBytes: number[] = [];
  #active = 0;
  readonly #dropped: DroppedMessages;
  #pumping = false;
  #draining = false;
  #drainedSent: number | undefined;
  #grantScheduled = false;
  #timers: NodeJS.Timeout[] = [];
  #receiving: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];
  readonly #jobDuration: { observe(seconds: number): void };

  /** @throws OptionError when an option is invalid (worker-options.ts). */
  constructor(options: WorkerOptions) {
    const o = compileWorkerOptions(options);
    this.options = o;
    this.#dropped = new DroppedMessages('worker', o.metrics, o.logger);
    const socketOptions = baseOptions({ maxMessageBytes: o.maxMessageBytes });
    // A fresh routing id per process: the ventilator keeps credit per connection, and a restarted
    // worker must not inherit its predecessor's.
    const curve = o.security.connectOptions();
    this.#jobs = new Dealer({ ...socketOptions, ...curve, routingId: `${o.workerId}-${process.pid}-${randomBytes(3).toString('hex')}`, immediate: true });
    this.#results = new Push({ ...socketOptions, ...curve, immediate: true });
    this.#control = new SerialSender(this.#jobs);
    this.#window = new CreditWindow(o.concurrency, o.prefetchMs);
    this.#bytes = new ByteWindow(o.creditBytes);
    this.#resultQueue = new PackingQueue<JobResult>(
      async (results) => {
        try {
          await this.#sendResults(results);
        } finally {
          // The queue hands results on in order: these are the first shares in line.
          let freed = 0;
          for (const bytes of this.#resultBytes.splice(0, results.length)) freed += bytes;
          this.#bytes.release(freed);
          this.#scheduleGrant();
        }
      },
      o.maxResultsPerMessage,
      (error, results) => o.logger.error({ err: error, results: results.length }, 'could not send results; their leases will bring the jobs back'),
    );
    o.metrics.workerSlots.set(o.labels, o.concurrency);
    o.metrics.sampleGauge(o.metrics.workerJobsActive, o.labels, () => this.#active);
    o.metrics.sampleGauge(o.metrics.payloadBytesHeld, o.labels, () => this.#bytes.held);
    this.#jobDuration = o.metrics.jobDuration.labels(o.labels);
  }

  get ready(): boolean {
    return !this.#draining && this.#receiving !== undefined;
  }

  start(): void {
    const { jobsConnect, resultsConnect, security, logger } = this.options;
    // A refused handshake is retried with backoff: a worker whose key is allowed later gets in.
    retryRefusedHandshakes(this.#jobs, { endpoint: jobsConnect, publicKey: security.clientPublicKey, logger, socketName: 'jobs', who: 'worker' });
    retryRefusedHandshakes(this.#results, { endpoint: resultsConnect, publicKey: security.clientPublicKey, logger, socketName: 'results', who: 'worker' });
    // A Jobs message above twice this worker's limit makes libzmq cut the ventilator off for good.
    reconnectWhenAbandoned(this.#jobs, {
      endpoint: jobsConnect,
      logger,
      socketName: 'jobs',
      cause: `was a Jobs message above twice JOBPIPE_MAX_MESSAGE_BYTES (${this.options.maxMessageBytes})? give the worker the ventilator's limit`,
    });
    this.#jobs.connect(jobsConnect);
    this.#results.connect(resultsConnect);
    this.#receiving = receiveLoop(this.#jobs, {
      accept: ['Jobs', 'Drained', 'Cancel'],
      maxMessageBytes: this.options.maxMessageBytes,
      onMessage: (message, _envelope, bytes) => {
        if (message.type === 'Jobs') this.#onJobs(message.pipeline, message.jobs, bytes);
        else if (message.type === 'Cancel') this.#onCancel(message.batch, message.seqs);
        else this.#onDrained(message.sent);
      },
      onMalformed: (error, _envelope, bytes) => this.#dropped.drop(error.reason, { bytes, detail: error.message }),
    });
    this.#scheduleGrant();
    this.#timers.push(
      setInterval(() => this.#window.sample(), 100),
      // The heartbeat repeats the cumulative counts, so a lost credit message heals itself, and
      // grants what freed up without a job finishing (results the sink finally took). While
      // draining it is Drain, repeated (PROTOCOL.md section 5): a ventilator that forgot the
      // session opens it again as draining, where a Credit would open one that gets jobs.
      setInterval(() => {
        if (this.#draining) return void this.#sendDrain();
        // Idle for a whole interval (nothing held, nothing came): the credit granted while busy goes.
        if (this.#held() === 0 && this.#window.received === this.#receivedAtBeat) this.#window.takeBack();
        this.#receivedAtBeat = this.#window.received;
        this.#grant();
        void this.#sendCredit();
      }, this.options.heartbeatMs),
    );
    this.options.logger.info({ jobs: this.options.jobsConnect, results: this.options.resultsConnect, concurrency: this.options.concurrency }, 'worker started');
  }

  /** Stops taking jobs, finishes the ones it holds, flushes their results and closes. */
  async stop(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const { logger } = this.options;
    const deadline = Date.now() + this.options.drainTimeoutMs;
    const drainDeadline = Math.min(deadline, Date.now() + 3 * this.options.heartbeatMs);
    // Never connected, or the ventilator is gone: the Drain send would wait forever.
    await settleWithin(this.#sendDrain(true), drainDeadline - Date.now());
    // Every job the ventilator sent before our Drain arrives before its Drained answer.
    await this.#until(() => this.#drainedSent !== undefined && this.#window.received >= this.#drainedSent, drainDeadline);
    const finished = await this.#until(() => this.#waiting.length === 0 && this.#active === 0, deadline);
    if (!finished) logger.warn({ waiting: this.#waiting.length, active: this.#active }, 'drain timed out; unfinished jobs come back through their leases');
    await settleWithin(this.#resultQueue.idle(), Math.max(deadline - Date.now(), 1000));
    for (const timer of this.#timers) clearInterval(timer);
    this.#jobs.close();
    this.#results.close();
    await this.#receiving;
    await this.options.executor.close();
    logger.info({ received: this.#window.received, peakHeldBytes: this.#bytes.peak, creditBytes: this.#bytes.window }, 'worker drained');
  }

  /** Sends a pack of results, halving it while it is over the size limit the sink enforces. */
  async #sendResults(results: JobResult[]): Promise<void> {
    const { pipeline, workerId, maxMessageBytes, logger } = this.options;
    const frame = encode({ type: 'Results', pipeline: pipeline.name, worker: workerId, results });
    if (frame.length <= maxMessageBytes) return this.#results.send(frame);
    if (results.length > 1) {
      const half = results.length >> 1;
      await this.#sendResults(results.slice(0, half));
      return this.#sendResults(results.slice(half));
    }
    // One result too large on its own: the job fails with why, rather than vanish.
    const result = results[0]!;
    const error = {
      name: WireErrorName.ResultTooLarge,
      message: `result of ${frame.length} bytes exceeds the message limit of ${maxMessageBytes} (JOBPIPE_MAX_MESSAGE_BYTES)`,
    };
    logger.error({ batch: result.batch, job: `${result.batch}:${result.seq}`, bytes: frame.length }, 'result too large; sent as a failure');
    const { batch, seq, attempt, dispatchedAt, durationMs, traceparent, tracestate, handlerSpan } = result;
    const failed: JobResult = { batch, seq, attempt, dispatchedAt, durationMs, ok: false, error };
    // The trace goes with the failure (PROTOCOL.md 3.1, "Trace context").
    if (traceparent !== undefined) failed.traceparent = traceparent;
    if (tracestate !== undefined) failed.tracestate = tracestate;
    if (handlerSpan !== undefined) failed.handlerSpan = handlerSpan;
    return this.#results.send(encode({ type: 'Results', pipeline: pipeline.name, worker: workerId, results: [failed] }));
  }

  #onJobs(pipeline: string, jobs: Job[], bytes: number): void {
    this.#window.received += jobs.length;
    const shares = this.#bytes.receive(bytes, jobs.length);
    if (pipeline !== this.options.pipeline.name) {
      this.options.logger.error({ expected: this.options.pipeline.name, got: pipeline, jobs: jobs.length }, 'jobs for another pipeline: failing them');
      const error = { name: WireErrorName.WrongPipeline, message: `worker runs ${this.options.pipeline.name}, not ${pipeline}` };
      for (let i = 0; i < jobs.length; i++) this.#finish({ job: jobs[i]!, bytes: shares[i]! }, 0, { ok: false, error });
      return;
    }
    for (let i = 0; i < jobs.length; i++) this.#waiting.push({ job: jobs[i]!, bytes: shares[i]! });
    this.#pump();
  }

  /**
   * A batch, or jobs of it, cancelled (PROTOCOL.md 3.7a): those not started fail at once without
   * running, those running have their handlers aborted. Each still ends as a result, so its credit
   * comes back; the ledger records none of them.
   */
  #onCancel(batch: string, seqs: number[] | undefined): void {
    const wanted = seqs && new Set(seqs);
    const matches = (job: Job) => job.batch === batch && (wanted === undefined || wanted.has(job.seq));
    const outcome: Outcome = { ok: false, error: describeError(new CancelledError(batch)) };
    let dropped = 0;
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const held = this.#waiting[i]!;
      if (!matches(held.job)) continue;
      this.#waiting.splice(i, 1);
      this.#finish(held, 0, outcome);
      dropped++;
    }
    const stopped = this.options.executor.cancel(matches);
    if (dropped + stopped > 0) this.options.logger.info({ batch, jobs: seqs?.length, dropped, stopped }, 'jobs cancelled');
  }

  #onDrained(sent: number): void {
    this.#drainedSent = sent;
    this.#notify();
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    while (this.#active < this.options.concurrency && this.#waiting.length > 0) {
      const held = this.#waiting.shift()!;
      this.#active++;
      const startedAt = performance.now();
      // A traced job (a sampled few, PROTOCOL.md 3.1 "Trace context"): its handler's run is a span.
      if (held.job.traceparent !== undefined) held.span = tracedRun(held.job.traceparent, performance.timeOrigin + startedAt);
      const outcome = this.options.executor.run(held.job);
      if (outcome instanceof Promise) {
        void outcome.then((settled) => {
          this.#active--;
          this.#finish(held, performance.now() - startedAt, settled);
          this.#pump();
        });
      } else {
        // A synchronous handler finished already: no promise, and no recursion into #pump.
        this.#active--;
        this.#finish(held, performance.now() - startedAt, outcome);
      }
    }
    this.#pumping = false;
  }

  #finish({ job, bytes, span }: HeldJob, durationMs: number, outcome: Outcome): void {
    // Its bytes stay held until its result has left (the result may weigh as much as the job).
    this.#resultBytes.push(bytes);
    // Built field by field: a spread per job showed in the worker's profile.
    const result: JobResult = outcome.ok
      ? { batch: job.batch, seq: job.seq, attempt: job.attempt, dispatchedAt: job.dispatchedAt, durationMs, ok: true, value: outcome.value }
      : { batch: job.batch, seq: job.seq, attempt: job.attempt, dispatchedAt: job.dispatchedAt, durationMs, ok: false, error: outcome.error };
    // The trace goes on to the sink (PROTOCOL.md 3.1, "Trace context"): the handler's span when
    // the job ran traced, the job's own context otherwise (a job cancelled before it ran).
    if (job.traceparent !== undefined) {
      if (span) {
        result.traceparent = span.traceparent;
        result.handlerSpan = span.handlerSpan;
      } else result.traceparent = job.traceparent;
      if (job.tracestate !== undefined) result.tracestate = job.tracestate;
    }
    this.#resultQueue.push(result);
    if (!outcome.ok && outcome.error.name !== WireErrorName.Cancelled)
      this.options.logger.warn({ batch: job.batch, job: `${job.batch}:${job.seq}`, attempt: job.attempt, error: outcome.error }, 'job failed');
    this.#jobDuration.observe(durationMs / 1000);
    this.#window.completed();
    this.#scheduleGrant();
    if (this.#idleWaiters.length > 0) this.#notify();
  }

  // Completions in one I/O turn share one credit message.
  #scheduleGrant(): void {
    if (this.#grantScheduled || this.#draining) return;
    this.#grantScheduled = true;
    setImmediate(() => {
      this.#grantScheduled = false;
      if (this.#draining) return;
      if (this.#grant()) void this.#sendCredit();
    });
  }

  /** Raises the credit in jobs and in bytes as far as what is held allows; true when either grew. */
  #grant(): boolean {
    const jobs = this.#window.toGrant(this.#held());
    return this.#bytes.toGrant(jobs > 0) > 0 || jobs > 0;
  }

  // Results not yet handed to the sink count as held: while the sink is away, stop asking.
  #held(): number {
    return this.#waiting.length + this.#active + this.#resultQueue.size;
  }

  // Also the heartbeat until the worker drains.
  async #sendCredit(): Promise<void> {
    // Heartbeats queue behind a blocked send instead of piling up (the DEALER blocks while the ventilator is away).
    if (this.#control.pending > 1) return;
    await this.#control
      .send(
        // Version 2: this session's one lane, its pipeline's (PROTOCOL.md 3.3).
        encode({
          type: 'Credit',
          version: 2,
          worker: this.options.workerId,
          pipelines: {
            [this.options.pipeline.name]: {
              granted: this.#window.granted,
              received: this.#window.received,
              grantedBytes: this.#bytes.granted,
              receivedBytes: this.#bytes.received,
              // For operators (the console's workers), never credit: PROTOCOL.md 3.3.
              slots: this.options.concurrency,
            },
          },
        }),
      )
      .catch((error: Error) => this.options.logger.debug({ err: error }, 'credit not sent'));
  }

  // The first says the worker drains; the repeats are its heartbeat until it closes the socket.
  async #sendDrain(first = false): Promise<void> {
    if (!first && this.#control.pending > 1) return;
    await this.#control
      .send(encode({ type: 'Drain', worker: this.options.workerId, received: this.#window.received }))
      .catch((error: Error) => this.options.logger.debug({ err: error }, 'drain not sent'));
  }

  #notify(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Waits until `condition` holds (true) or the deadline passes (false). */
  async #until(condition: () => boolean, deadline: number): Promise<boolean> {
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}

/** The handler's span of a job run now (`startedAt`, epoch ms), or undefined when its traceparent is unsampled or invalid. */
function tracedRun(traceparent: string, startedAt: number): TracedRun | undefined {
  const parent = sampledParent(traceparent);
  if (!parent) return undefined;
  return { traceparent: `00-${parent.traceId}-${randomSpanId()}-01`, handlerSpan: { parentSpanId: parent.spanId, startedAt } };
}
