import { Publisher, Pull } from 'zeromq';
import { encode, type JobResult, type ProtocolError } from '@jobpipe/protocol';
import type { Pipeline } from '@jobpipe/pipeline';
import type { Logger, Metrics } from '@jobpipe/observability';
import { baseOptions, receiveLoop, SerialSender } from '@jobpipe/transport';
import { BatchState } from './batch-tracker.js';

export interface SinkOptions {
  pipeline: Pipeline;
  resultsBind: string;
  eventsBind: string;
  maxMessageBytes: number;
  logger: Logger;
  metrics: Metrics;
  /** Batches tracked at once; results for more are dropped (their leases bring them back). @default 10000 */
  maxOpenBatches?: number;
}

const PROGRESS_EVERY_MS = 250;
const FINISHED_BATCHES_KEPT = 10_000;

/**
 * The sink role: records each job's result once, folds it into its batch, and publishes
 * Recorded acks and batch events.
 */
export class Sink {
  readonly #o: SinkOptions;
  readonly #results: Pull;
  readonly #events: Publisher;
  readonly #publisher: SerialSender;
  readonly #batches = new Map<string, BatchState>();
  /** Batches already completed, so late duplicates are recognised (oldest forgotten first). */
  readonly #finished = new Set<string>();
  readonly #labels: { pipeline: string };
  readonly #latency: { observe(seconds: number): void };
  readonly #maxOpenBatches: number;
  #loop: Promise<void> | undefined;
  #running = false;

  constructor(options: SinkOptions) {
    this.#o = options;
    this.#labels = { pipeline: options.pipeline.name };
    this.#maxOpenBatches = options.maxOpenBatches ?? 10_000;
    this.#latency = options.metrics.jobLatency.labels(this.#labels);
    const socketOptions = baseOptions({ maxMessageBytes: options.maxMessageBytes });
    this.#results = new Pull({ ...socketOptions });
    this.#events = new Publisher({ ...socketOptions });
    this.#publisher = new SerialSender(this.#events);
  }

  get ready(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
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
        if (message.type === 'Results') await this.#onResults(message.worker, message.results);
        else if (message.type === 'BatchStart') this.#batch(message.batch);
        else this.#onBatchEnd(message.batch, message.jobs);
      },
      onMalformed: (error: ProtocolError, _envelope, bytes) => this.#malformed(error.reason, error.message, bytes),
    });
    this.#o.logger.info({ results: this.#o.resultsBind, events: this.#o.eventsBind }, 'sink started');
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#results.close();
    await this.#loop;
    await this.#publisher.idle().catch(() => {});
    this.#events.close();
    this.#o.logger.info({ openBatches: this.#batches.size }, 'sink stopped');
  }

  /** The batch's state, created on first sight; undefined for a finished batch or when too many are open. */
  #batch(id: string): BatchState | undefined {
    let batch = this.#batches.get(id);
    if (batch || this.#finished.has(id)) return batch;
    if (this.#batches.size >= this.#maxOpenBatches) {
      this.#o.logger.error({ batch: id, open: this.#batches.size }, 'too many open batches: dropping results of a new one');
      return undefined;
    }
    batch = new BatchState(id, this.#o.pipeline, Date.now());
    this.#batches.set(id, batch);
    this.#o.logger.info({ batch: id }, 'batch opened');
    return batch;
  }

  async #onResults(worker: string, results: JobResult[]): Promise<void> {
    const { metrics, pipeline } = this.#o;
    const now = Date.now();
    const acks = new Map<string, number[]>();
    const touched = new Set<BatchState>();
    let completed = 0;
    let failed = 0;
    let duplicates = 0;
    for (const result of results) {
      const batch = this.#batch(result.batch);
      if (!batch) {
        if (this.#finished.has(result.batch)) {
          duplicates++;
          pushTo(acks, result.batch, result.seq);
        }
        continue;
      }
      // Acked either way: a duplicate means the ventilator may still think the job is in flight.
      pushTo(acks, result.batch, result.seq);
      if (!batch.record(result, worker)) {
        duplicates++;
        continue;
      }
      touched.add(batch);
      this.#latency.observe(Math.max(0, now - result.dispatchedAt) / 1000);
      if (result.ok) {
        completed++;
        if (pipeline.collect) await this.#collect(batch, result.value, result.seq, worker);
      } else {
        failed++;
      }
    }
    // Counted once per message, not per result: label lookups per job showed in profiles.
    if (completed > 0) metrics.jobsCompleted.inc({ pipeline: pipeline.name, worker }, completed);
    if (failed > 0) metrics.jobsFailed.inc({ pipeline: pipeline.name, worker }, failed);
    if (duplicates > 0) metrics.duplicateResults.inc(this.#labels, duplicates);
    for (const [batch, seqs] of acks) void this.#publish(encode({ type: 'Recorded', batch, seqs }));
    for (const batch of touched) this.#afterRecording(batch, now);
  }

  async #collect(batch: BatchState, value: unknown, seq: number, worker: string): Promise<void> {
    try {
      const ctx = { batch: batch.id, seq, worker, state: batch.state };
      const done = this.#o.pipeline.collect!(value, ctx);
      if (done) await done;
      batch.state = ctx.state;
    } catch (error) {
      this.#o.logger.error({ batch: batch.id, job: `${batch.id}:${seq}`, err: error }, 'collect threw; the result is recorded but not folded in');
    }
  }

  #onBatchEnd(id: string, jobs: number): void {
    const batch = this.#batch(id);
    if (!batch) return;
    batch.total = jobs;
    this.#afterRecording(batch, Date.now());
  }

  #afterRecording(batch: BatchState, now: number): void {
    if (batch.isComplete) {
      this.#complete(batch, now);
    } else if (now - batch.lastProgressAt >= PROGRESS_EVERY_MS) {
      batch.lastProgressAt = now;
      void this.#publish(encode({ type: 'BatchProgress', batch: batch.id, pipeline: batch.pipeline.name, done: batch.recorded, failed: batch.failed, total: batch.total }));
    }
  }

  #complete(batch: BatchState, now: number): void {
    const { summary, answerError } = batch.summarize(now);
    if (answerError !== undefined) this.#o.logger.error({ batch: batch.id, err: answerError }, 'summarize threw; the summary has no answer');
    this.#batches.delete(batch.id);
    this.#finished.add(batch.id);
    if (this.#finished.size > FINISHED_BATCHES_KEPT) this.#finished.delete(this.#finished.values().next().value!);
    this.#o.metrics.batchesCompleted.inc(this.#labels);
    this.#o.logger.info({ batch: batch.id, summary }, 'batch completed');
    void this.#publish(encode({ type: 'BatchProgress', batch: batch.id, pipeline: batch.pipeline.name, done: batch.recorded, failed: batch.failed, total: batch.total }));
    void this.#publish(encode({ type: 'BatchCompleted', summary }));
  }

  #publish(frame: Buffer): Promise<void> {
    return this.#publisher.send(frame).catch((error: Error) => this.#o.logger.warn({ err: error }, 'event not published'));
  }

  #malformed(reason: string, detail: string, bytes: number): void {
    this.#o.metrics.malformedMessages.inc({ role: 'sink', reason });
    this.#o.logger.warn({ reason, bytes, detail }, 'dropped a malformed message');
  }
}

function pushTo(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
