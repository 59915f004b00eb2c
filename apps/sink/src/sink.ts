import { Publisher, Pull } from 'zeromq';
import { encode, type JobResult, type MessageOf, type ProtocolError } from '@jobpipe/protocol';
import type { Pipeline } from '@jobpipe/pipeline';
import { DroppedMessages, type Logger, type Metrics } from '@jobpipe/observability';
import { RecordOutcome, type BatchCounts, type Recording, type ResultLedger } from '@jobpipe/ledger';
import { baseOptions, boundedReceiveQueue, prepareServerBinds, receiveLoop, SerialSender, Signal, SocketSecurity } from '@jobpipe/transport';
import { BatchFold } from './batch-fold.js';
import { RecordedAcks } from './recorded-acks.js';

type Message = MessageOf<'Results'> | MessageOf<'BatchStart'> | MessageOf<'BatchEnd'>;
interface RecordGroup {
  batch: string;
  worker: string;
  results: JobResult[];
}

export interface SinkOptions {
  pipeline: Pipeline;
  ledger: ResultLedger;
  resultsBind: string;
  eventsBind: string;
  maxMessageBytes: number;
  /** CURVE keys. @default plain sockets */
  security?: SocketSecurity;
  logger: Logger;
  metrics: Metrics;
  /** Batches folded at once; results for more wait (their leases bring them back). @default 10000 */
  maxOpenBatches?: number;
}

const PROGRESS_EVERY_MS = 250;
const DONE_BATCHES_KEPT = 10_000;
/** Received messages waiting to be recorded before the sink stops reading its socket. */
const MAX_QUEUED_MESSAGES = 64;
/** Results held for batches whose BatchStart has not come yet, at most (persistence off). */
const MAX_PARKED_RESULTS = 20_000;
/** How often a durable sink checks the ledger for batches it must fold or complete. */
const RECONCILE_EVERY_MS = 1000;

/**
 * The sink role: records each job's result once, folds it into its batch, and publishes
 * Recorded acks (gathered a few milliseconds) and batch events.
 */
export class Sink {
  readonly #o: SinkOptions;
  readonly #results: Pull;
  readonly #events: Publisher;
  readonly #publisher: SerialSender;
  readonly #folds = new Map<string, Promise<BatchFold>>();
  /** Batches this sink saw done, newest last: a late duplicate for one needs no fold. */
  readonly #done = new Set<string>();
  /** The latest counts of each open batch, for the batch progress gauges. */
  readonly #openCounts = new Map<string, BatchCounts>();
  readonly #labels: { pipeline: string };
  readonly #latency: { observe(seconds: number): void };
  readonly #maxOpenBatches: number;
  #loop: Promise<void> | undefined;
  /** Messages received and not yet recorded; #drain empties it. */
  readonly #inbox: Message[] = [];
  readonly #drainedSome = new Signal();
  #draining = false;
  #timer: NodeJS.Timeout | undefined;
  #reconciling = false;
  readonly #dropped: DroppedMessages;
  readonly #security: SocketSecurity;
  readonly #acks = new RecordedAcks((batch, seqs) => void this.#publish(encode({ type: 'Recorded', batch, seqs })));
  /** Results that arrived before their batch's BatchStart (persistence off only), by batch. */
  readonly #parked = new Map<string, RecordGroup[]>();
  #parkedResults = 0;
  #running = false;

  constructor(options: SinkOptions) {
    this.#o = options;
    this.#dropped = new DroppedMessages('sink', options.metrics, options.logger);
    this.#security = options.security ?? SocketSecurity.plain();
    this.#labels = { pipeline: options.pipeline.name };
    this.#maxOpenBatches = options.maxOpenBatches ?? 10_000;
    this.#latency = options.metrics.jobLatency.labels(this.#labels);
    const socketOptions = baseOptions({ maxMessageBytes: options.maxMessageBytes });
    this.#results = new Pull({ ...socketOptions, ...boundedReceiveQueue({ maxMessageBytes: options.maxMessageBytes }), ...this.#security.bindOptions() });
    this.#events = new Publisher({ ...socketOptions, ...this.#security.bindOptions() });
    this.#publisher = new SerialSender(this.#events);
    const { metrics } = options;
    const sum = (pick: (counts: BatchCounts) => number) => () => [...this.#openCounts.values()].reduce((total, counts) => total + pick(counts), 0);
    metrics.sampleGauge(metrics.batchesOpen, this.#labels, () => this.#openCounts.size);
    metrics.sampleGauge(metrics.batchJobsDone, this.#labels, sum((counts) => counts.done));
    metrics.sampleGauge(metrics.batchJobsExpected, this.#labels, sum((counts) => counts.total ?? 0));
  }

  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    const { logger, metrics } = this.#o;
    const security = this.#security;
    await prepareServerBinds(security, { role: 'sink', endpoints: [this.#o.resultsBind, this.#o.eventsBind], exposes: 'send results or read batch events', logger, refused: metrics.handshakesRefused });
    await this.#results.bind(this.#o.resultsBind);
    await this.#events.bind(this.#o.eventsBind);
    this.#running = true;
    this.#loop = receiveLoop(this.#results, {
      accept: ['Results', 'BatchStart', 'BatchEnd'],
      maxMessageBytes: this.#o.maxMessageBytes,
      onMessage: async (message) => {
        if (message.pipeline !== this.#o.pipeline.name) {
          this.#malformed('wrong_pipeline', `message for pipeline ${message.pipeline}, this sink records ${this.#o.pipeline.name}`, 0);
          return;
        }
        this.#inbox.push(message);
        if (!this.#draining) void this.#drain();
        // Backpressure: while the ledger is behind, stop reading; the socket's queue holds the rest.
        while (this.#inbox.length >= MAX_QUEUED_MESSAGES && this.#running) await this.#drainedSome.wait(1000);
      },
      onMalformed: (error: ProtocolError, _envelope, bytes) => this.#malformed(error.reason, error.message, bytes),
    });
    if (this.#o.ledger.durable) {
      this.#timer = setInterval(() => void this.#reconcile(), RECONCILE_EVERY_MS);
      void this.#reconcile();
    }
    this.#o.logger.info({ results: this.#o.resultsBind, events: this.#o.eventsBind, durable: this.#o.ledger.durable, curve: security.enabled }, 'sink started');
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#timer);
    this.#results.close();
    await this.#loop;
    while (this.#draining) await this.#drainedSome.wait(100);
    this.#acks.flush();
    await this.#publisher.idle().catch(() => {});
    this.#events.close();
    this.#o.logger.info({ openBatches: this.#folds.size }, 'sink stopped');
  }

  /**
   * Runs a ledger step until it succeeds: while Redis is away the receive loop waits here, the
   * socket's queue fills and workers are held back; nothing is dropped.
   */
  async #retrying(step: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (!this.#running) return;
        this.#o.logger.error({ err: error, attempt }, 'recording failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * attempt)));
      }
    }
  }

  /** The batch's fold, made on first sight; a batch the ledger already has results for is folded again from them. */
  #fold(batch: string): Promise<BatchFold> {
    let fold = this.#folds.get(batch);
    if (!fold) {
      if (this.#folds.size >= this.#maxOpenBatches) throw new Error(`too many open batches (${this.#folds.size})`);
      fold = this.#refold(batch);
      this.#folds.set(batch, fold);
      fold.catch(() => this.#folds.delete(batch));
    }
    return fold;
  }

  async #refold(batch: string): Promise<BatchFold> {
    const fold = new BatchFold(batch, this.#o.pipeline);
    const count = await this.#o.ledger.forEachResult(batch, (seq, value) => this.#collect(fold, seq, value, 'ledger'));
    this.#o.logger.info({ batch, refolded: count }, 'batch opened');
    return fold;
  }

  /**
   * Records what arrived while the previous round was recording: all its result packs in one
   * round of concurrent ledger calls (one per batch and worker), so under load many messages
   * share a round trip, while a lone result goes at once. Control messages keep their order.
   */
  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      // Goes on while stopping: what was received is recorded before the sink exits.
      while (this.#inbox.length > 0) {
        const messages = this.#inbox.splice(0);
        this.#drainedSome.notify();
        let packs: { worker: string; results: JobResult[] }[] = [];
        for (const message of messages) {
          if (message.type === 'Results') {
            packs.push({ worker: message.worker, results: message.results });
            continue;
          }
          await this.#recordPacks(packs);
          packs = [];
          await this.#retrying(() => (message.type === 'BatchStart' ? this.#onBatchStart(message.batch) : this.#onBatchEnd(message.batch, message.jobs)));
        }
        await this.#recordPacks(packs);
      }
    } finally {
      this.#draining = false;
      this.#drainedSome.notify();
    }
  }

  async #recordPacks(packs: { worker: string; results: JobResult[] }[]): Promise<void> {
    // One group per batch and worker: the ledger counts results per worker. A pack is almost
    // always of one batch, so the group is looked up only when the batch changes.
    const groups = new Map<string, Map<string, RecordGroup>>();
    for (const { worker, results } of packs) {
      let group: RecordGroup | undefined;
      for (const result of results) {
        if (group?.batch !== result.batch) {
          let byWorker = groups.get(result.batch);
          if (!byWorker) groups.set(result.batch, (byWorker = new Map()));
          group = byWorker.get(worker);
          if (!group) byWorker.set(worker, (group = { batch: result.batch, worker, results: [] }));
        }
        group.results.push(result);
      }
    }
    let pending = await this.#knownBatchesOnly([...groups.values()].flatMap((byWorker) => [...byWorker.values()]));
    await this.#retrying(async () => {
      // A done batch is not folded again for a late duplicate (a refold reads every result).
      const folds: (BatchFold | undefined)[] = [];
      for (const group of pending) folds.push(this.#done.has(group.batch) ? undefined : await this.#fold(group.batch));
      const recordings = await Promise.allSettled(pending.map((group) => this.#o.ledger.record(group.batch, group.worker, group.results)));
      const failed: RecordGroup[] = [];
      for (let i = 0; i < pending.length; i++) {
        const recording = recordings[i]!;
        if (recording.status === 'fulfilled') await this.#apply(pending[i]!, folds[i], recording.value);
        else failed.push(pending[i]!);
      }
      pending = failed;
      // Only the calls that failed are made again: the others are recorded and folded already.
      const rejected = recordings.find((recording) => recording.status === 'rejected');
      if (rejected) throw (rejected as PromiseRejectedResult).reason;
    });
  }

  /**
   * Holds back the results of batches neither this sink nor the ledger knows. The ventilator
   * opens every batch (in Redis, and by BatchStart) before its first job leaves, so with a
   * durable ledger these come from a rogue or confused peer, and folding them would let it grow
   * the sink's memory at will: they are dropped. Without one, a result can overtake its batch's
   * BatchStart (they travel on different connections), so a few are parked until it comes; the
   * rest are dropped unacknowledged, and their leases bring back any that were real.
   */
  async #knownBatchesOnly(groups: RecordGroup[]): Promise<RecordGroup[]> {
    const known: RecordGroup[] = [];
    for (const group of groups) {
      let knows = this.#folds.has(group.batch) || this.#done.has(group.batch);
      if (!knows) await this.#retrying(async () => void (knows = await this.#o.ledger.knows(group.batch)));
      if (knows) known.push(group);
      else if (!this.#o.ledger.durable && this.#parkedResults + group.results.length <= MAX_PARKED_RESULTS) {
        this.#parkedResults += group.results.length;
        let parked = this.#parked.get(group.batch);
        if (!parked) this.#parked.set(group.batch, (parked = []));
        parked.push(group);
      } else {
        this.#malformed('unknown_batch', `${group.results.length} result(s) from ${group.worker} for batch ${group.batch}, which was never started`, 0);
      }
    }
    return known;
  }

  async #onBatchStart(batch: string): Promise<void> {
    if (this.#done.has(batch)) return;
    await this.#o.ledger.begin(batch);
    await this.#fold(batch);
    const parked = this.#parked.get(batch);
    if (parked) {
      this.#parked.delete(batch);
      this.#parkedResults -= parked.reduce((sum, group) => sum + group.results.length, 0);
      await this.#recordPacks(parked);
    }
  }

  async #apply(group: RecordGroup, knownFold: BatchFold | undefined, recording: Recording): Promise<void> {
    const { metrics, pipeline } = this.#o;
    const { batch, worker, results } = group;
    const { outcomes, counts } = recording;
    let fold = knownFold;
    // A done batch that runs again (`dead retry`) recorded something here: fold it afresh from
    // the ledger, which then already holds these results.
    const reopened = !fold && /[RX]/.test(outcomes);
    if (reopened) {
      this.#done.delete(batch);
      fold = await this.#fold(batch);
    }
    const now = Date.now();
    let completed = 0;
    let failed = 0;
    let dead = 0;
    let duplicates = 0;
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      const outcome = outcomes[i];
      if (!result.ok) failed++;
      if (outcome === RecordOutcome.Recorded) {
        this.#latency.observe(Math.max(0, now - result.dispatchedAt) / 1000);
        if (result.ok) {
          completed++;
          const collecting = fold && !reopened ? this.#collect(fold, result.seq, result.value, worker) : undefined;
          if (collecting) await collecting;
        }
      } else if (outcome === RecordOutcome.DeadLetter) {
        dead++;
        this.#o.logger.error({ batch, job: `${batch}:${result.seq}`, attempt: result.attempt, error: result.ok ? undefined : result.error }, 'dead letter');
      } else if (outcome === RecordOutcome.Duplicate || outcome === RecordOutcome.Orphan) {
        duplicates++;
      }
    }
    if (fold) fold.duplicates += duplicates;
    // Counted once per pack, not per result: label lookups per job showed in profiles. Both
    // series exist (maybe at 0) for every worker seen, so per-worker panels cover idle workers.
    metrics.jobsCompleted.inc({ pipeline: pipeline.name, worker }, completed);
    metrics.jobsFailed.inc({ pipeline: pipeline.name, worker }, failed);
    if (dead > 0) metrics.jobsDeadLettered.inc(this.#labels, dead);
    if (duplicates > 0) metrics.duplicateResults.inc(this.#labels, duplicates);
    // Acked whatever the outcome: the ventilator stops tracking them; a retry comes back through the ledger.
    this.#acks.add(batch, results);
    if (fold) await this.#afterRecording(fold, counts, now);
  }

  /** Folds a result in; a promise only when the pipeline's collect is asynchronous. */
  #collect(fold: BatchFold, seq: number, value: unknown, worker: string): void | Promise<void> {
    try {
      const done = fold.collect(seq, value, worker);
      if (done) return done.catch((error: unknown) => this.#collectThrew(fold, seq, error));
    } catch (error) {
      this.#collectThrew(fold, seq, error);
    }
  }

  #collectThrew(fold: BatchFold, seq: number, error: unknown): void {
    this.#o.logger.error({ batch: fold.id, job: `${fold.id}:${seq}`, err: error }, 'collect threw; the result is recorded but not folded in');
  }

  async #onBatchEnd(batch: string, jobs: number): Promise<void> {
    if (this.#done.has(batch)) return;
    const fold = await this.#fold(batch);
    const counts = await this.#o.ledger.setTotal(batch, jobs);
    await this.#afterRecording(fold, counts, Date.now());
  }

  async #afterRecording(fold: BatchFold, counts: BatchCounts, now: number): Promise<void> {
    this.#openCounts.set(fold.id, counts);
    if (counts.total !== null && counts.done >= counts.total) {
      await this.#complete(fold, counts, now);
    } else if (now - fold.lastProgressAt >= PROGRESS_EVERY_MS) {
      fold.lastProgressAt = now;
      void this.#publish(encode({ type: 'BatchProgress', batch: fold.id, pipeline: fold.pipeline.name, done: counts.done, failed: counts.failed, total: counts.total }));
    }
  }

  async #complete(fold: BatchFold, counts: BatchCounts, now: number): Promise<void> {
    const { ledger, logger, metrics } = this.#o;
    const { summary, answerError } = fold.summarize(counts, await ledger.perWorker(fold.id), now);
    if (answerError !== undefined) logger.error({ batch: fold.id, err: answerError }, 'summarize threw; the summary has no answer');
    const won = await ledger.complete(fold.id, fold.pipeline.name, summary);
    this.#folds.delete(fold.id);
    this.#openCounts.delete(fold.id);
    this.#done.add(fold.id);
    if (this.#done.size > DONE_BATCHES_KEPT) this.#done.delete(this.#done.values().next().value!);
    if (!won) return;
    ledger.forget(fold.id);
    metrics.batchesCompleted.inc(this.#labels);
    logger.info({ batch: fold.id, summary }, 'batch completed');
    void this.#publish(encode({ type: 'BatchProgress', batch: fold.id, pipeline: fold.pipeline.name, done: counts.done, failed: counts.failed, total: counts.total }));
    // The ventilator hears of the last jobs before it hears of the batch's end.
    this.#acks.flush();
    void this.#publish(encode({ type: 'BatchCompleted', summary }));
  }

  /** Durable only: completes batches whose last job became a dead letter at the ventilator, or whose events this sink missed. */
  async #reconcile(): Promise<void> {
    if (this.#reconciling || !this.#running) return;
    this.#reconciling = true;
    try {
      const { ledger, pipeline } = this.#o;
      for (const batch of await ledger.activeBatches(pipeline.name)) {
        const counts = await ledger.counts(batch);
        if (counts && counts.total !== null && counts.done >= counts.total) await this.#complete(await this.#fold(batch), counts, Date.now());
      }
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'reconcile failed; will try again');
    } finally {
      this.#reconciling = false;
    }
  }

  #publish(frame: Buffer): Promise<void> {
    return this.#publisher.send(frame).catch((error: Error) => this.#o.logger.warn({ err: error }, 'event not published'));
  }

  #malformed(reason: string, detail: string, bytes: number): void {
    this.#dropped.drop(reason, { bytes, detail });
  }
}
