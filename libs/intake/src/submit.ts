import { randomBytes } from 'node:crypto';
import type { Context, Span, SpanContext } from '@opentelemetry/api';
import { Queue, QueueEvents } from 'bullmq';
import {
  DEFAULT_RETENTION,
  duplicateClient,
  PipelineControls,
  readWorkerBoards,
  RedisLedger,
  type PipelineControlState,
  type BatchInfo,
  type RedisClient,
  type ResultsPage,
} from '@jobpipe/ledger';
import { InputError, parseInput, PipelineError, type Pipeline } from '@jobpipe/pipeline';
import { MAX_TRACESTATE_LENGTH, TRACEPARENT_PATTERN, type BatchSummary } from '@jobpipe/protocol';
import { checkBatchId, intakeQueueName, LOWEST_PRIORITY, priorityProblem, type BatchRequest } from './queue-name.js';
import { cancelJobs, SingleJobsClient, singleJobOf, type AddOptions, type BulkJob, type JobReport } from './single-jobs-client.js';
import { SubmissionError } from './submission-error.js';

export { SubmissionError };

export interface SubmitOptions {
  /** Defaults to `<pipeline>-<base36 time>-<random>`. */
  batchId?: string;
  /** 1 is the highest, up to 2,097,151 (BullMQ's range); unset, the batch queues at the lowest, after every one with a higher priority. */
  priority?: number;
  /**
   * How long the batch's keys stay in Redis once it is done, in ms (0: forever), instead of the
   * sink's JOBPIPE_RETENTION; its BullMQ intake job goes after as long (24 h when unset).
   */
  retentionMs?: number;
  /**
   * How long the batch stays once done if it has dead letters (0: forever), instead of the
   * sink's JOBPIPE_DEAD_RETENTION; a failed intake job goes after as long (7 d when unset).
   */
  deadRetentionMs?: number;
  /**
   * The W3C trace context to run the batch in (an HTTP request's `traceparent` header): its jobs'
   * spans join that trace (docs/architecture.md, "Tracing"). An invalid one is ignored, as W3C
   * asks. Unset: the active OpenTelemetry context of the submitting process, if it has one.
   */
  traceparent?: string;
  /** The W3C `tracestate` that goes with `traceparent` (at most 512 characters; a longer one is dropped). */
  tracestate?: string;
}

/** A recorded result of a batch, as `JobpipeClient.results` streams them. */
export interface BatchResult {
  seq: number;
  value: unknown;
}

export type BatchState = 'queued' | 'running' | 'done' | 'failed';

/** The BullMQ states an intake job (a submitted batch) can be listed in. */
export type IntakeState = 'wait' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed';
const INTAKE_STATES: readonly IntakeState[] = ['wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'];

export interface BatchStatusReport {
  batch: string;
  pipeline: string;
  state: BatchState;
  submittedAt: number | null;
  /** Jobs with a result, dead-lettered or cancelled, and the total once the split is done. */
  done: number;
  total: number | null;
  failed: number;
  /** Jobs cancelled (`cancel`, `cancelJob`). */
  cancelled: number;
  /** When the whole batch was cancelled (epoch ms), or null: a batch cancelled while queued has no job cancelled. */
  cancelledAt: number | null;
  summary: BatchSummary | null;
  error: string | null;
}

/**
 * The client side of intake: submits batches to a pipeline's durable queue and reports on them.
 * Batches wait in Redis (BullMQ) while no ventilator runs.
 */
export class JobpipeClient {
  readonly ledger: RedisLedger;
  readonly #queues = new Map<string, Queue>();
  readonly #jobs: SingleJobsClient;

  /** `redis`: a client of one server or of a Redis Cluster (connectFrom of @jobpipe/ledger). */
  constructor(
    readonly redis: RedisClient,
    readonly prefix = 'jobpipe',
  ) {
    this.ledger = new RedisLedger(redis, prefix);
    this.#jobs = new SingleJobsClient(this.ledger);
  }

  /**
   * Adds one single job to a pipeline (a name, or the pipeline itself); resolves with its id,
   * `<bucket>:<seq>`. Jobs added in one turn of the event loop, by any number of callers, go to
   * Redis in one round trip. With `jobId`, a job added again is not added twice.
   */
  add(pipeline: Pipeline | string, payload: unknown, options: AddOptions = {}): Promise<string> {
    return this.#jobs.add(typeof pipeline === 'string' ? pipeline : pipeline.name, payload, options);
  }

  /** Adds many single jobs; their ids in the order given. */
  addBulk(pipeline: Pipeline | string, jobs: readonly BulkJob[]): Promise<string[]> {
    return this.#jobs.addBulk(typeof pipeline === 'string' ? pipeline : pipeline.name, jobs);
  }

  /** Where a single job stands (queued, running, done with its value, failed with its error); undefined when unknown or expired. */
  getJob(id: string): Promise<JobReport | undefined> {
    return this.#jobs.getJob(id);
  }

  /** Resolves once the single job is done or has failed; rejects after `timeoutMs`, if given. */
  waitForJob(id: string, options: { timeoutMs?: number } = {}): Promise<JobReport> {
    return this.#jobs.waitForJob(id, options);
  }

  /**
   * Cancels a batch: its jobs not sent are never sent, its running handlers' signals abort, and
   * nothing more of it is recorded (what was, stays); it then completes, its summary counting the
   * jobs cancelled. A batch still queued is taken off the queue. True when this call cancelled it;
   * false when it was done or cancelled already.
   * @throws SubmissionError for a batch that is unknown or of another pipeline
   */
  async cancel(pipeline: string, batchId: string): Promise<boolean> {
    const queued = await this.queue(pipeline).getJob(batchId);
    if (!queued && !(await this.ledger.batchInfo(batchId))) throw new SubmissionError(`batch ${batchId} is unknown`);
    const { codes } = await this.ledger.cancel(batchId, pipeline).catch((error: Error) => {
      throw /WRONG_PIPELINE/.test(error.message) ? new SubmissionError(`batch ${batchId} is not of pipeline ${pipeline}`) : error;
    });
    if (codes !== 'C') return false;
    // Still queued: no ventilator need take it. One that has taken it (the job is locked) finds it
    // cancelled. A batch taken and already done (cancelled jobs end it fast) keeps its intake job:
    // it is no longer locked, and removing it would take it off the lists.
    const state = await queued?.getState().catch(() => undefined);
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed') await queued?.remove().catch(() => {});
    await this.#controls(pipeline).noteCancel({ batch: batchId });
    return true;
  }

  /**
   * Cancels one job: a single job's id (`add`), or `<batch>:<seq>` for a job of a batch (of a
   * batch still splitting, only one already split). As `cancel` does for a batch's jobs; the
   * batch runs on. True when this call cancelled it; false when it had ended already.
   * @throws SubmissionError for an id of no job
   */
  async cancelJob(id: string): Promise<boolean> {
    if (singleJobOf(id)) return this.#jobs.cancelJob(id);
    const match = /^(.+):(\d+)$/.exec(id);
    const info = match ? await this.ledger.batchInfo(match[1]!) : undefined;
    if (!match || !info) throw new SubmissionError(`job ${id} is unknown: a job id is <batch>:<seq>, or a single job's id`);
    return cancelJobs(this.ledger, match[1]!, info.pipeline, Number(match[2]), id);
  }

  /** Pauses a pipeline (a name): its ventilators send no job until `resume` (jobs out run on). */
  pause(pipeline: string): Promise<void> {
    return this.#controls(pipeline).setPaused(true);
  }

  resume(pipeline: string): Promise<void> {
    return this.#controls(pipeline).setPaused(false);
  }

  /**
   * Limits a pipeline to `jobsPerSecond` jobs sent per second over all its ventilators (0: no
   * limit); undefined leaves it to the ventilators' own JOBPIPE_RATE_LIMIT.
   */
  setRateLimit(pipeline: string, jobsPerSecond: number | undefined): Promise<void> {
    if (jobsPerSecond !== undefined && (!Number.isInteger(jobsPerSecond) || jobsPerSecond < 0 || jobsPerSecond > 10_000_000))
      return Promise.reject(new SubmissionError(`a rate limit is a whole number of jobs per second from 0 (none) to 10000000, not ${jobsPerSecond}`));
    return this.#controls(pipeline).setRateLimit(jobsPerSecond);
  }

  /**
   * Whether a pipeline of this name is known here: something was submitted to it, a ventilator
   * published a board with it in the last minute, or it has controls set already. A pipeline
   * nobody has named anywhere is most likely a typo.
   */
  async knowsPipeline(pipeline: string): Promise<boolean> {
    if ((await this.redis.sismember(this.ledger.keys.pipelines, pipeline)) === 1) return true;
    if ((await this.redis.exists(this.ledger.keys.controls(pipeline))) === 1) return true;
    return (await this.ventilatorsServing(pipeline, 60_000)) > 0;
  }

  /** How many ventilators of this pipeline published their worker board here (each does every second) within `freshMs`. */
  async ventilatorsServing(pipeline: string, freshMs = 5_000): Promise<number> {
    const boards = await readWorkerBoards(this.redis, this.ledger.keys, freshMs);
    return boards.filter((board) => Object.hasOwn(board.pipelines, pipeline)).length;
  }

  /** What is set for a pipeline: paused or not, and its rate limit (undefined: the ventilators' own). */
  controls(pipeline: string): Promise<PipelineControlState> {
    return this.#controls(pipeline).read();
  }

  #controls(pipeline: string): PipelineControls {
    return new PipelineControls(this.ledger.redis, this.ledger.keys, pipeline);
  }

  /** Checks the input against the pipeline, then queues the batch. Returns its id. */
  async submit(pipeline: Pipeline, input: unknown, options: SubmitOptions = {}): Promise<string> {
    const batchId = checkBatchId(options.batchId ?? `${pipeline.name}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`);
    const badPriority = options.priority === undefined ? undefined : priorityProblem(options.priority);
    if (badPriority) throw new TypeError(badPriority);
    await validateInput(pipeline, input);
    const queue = this.queue(pipeline.name);
    // Claimed atomically, so two submissions of one id cannot both seem to succeed.
    const submitted = this.ledger.keys.batch(batchId).submitted;
    // The submission's own retention, if it has one, is read from here by the sink's completion
    // (see commands/complete-10.lua), which gives this key the batch's expiry too.
    const claim = {
      at: Date.now(),
      ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
      ...(options.deadRetentionMs === undefined ? {} : { deadRetentionMs: options.deadRetentionMs }),
    };
    const claimed = await this.redis.set(submitted, JSON.stringify(claim), 'NX');
    if (claimed === null || (await queue.getJob(batchId)) || (await this.ledger.batchInfo(batchId))) {
      if (claimed !== null) await this.redis.del(submitted);
      throw new SubmissionError(`batch ${batchId} already exists`);
    }
    const request: BatchRequest = { pipeline: pipeline.name, input, submittedAt: Date.now() };
    // A span for the submission when an OpenTelemetry SDK is active here; without one, the API's
    // no-op tracer hands the parent's context through unchanged (or none at all). Without the
    // API installed (a client installed on its own), the traceparent option goes on as given.
    const api = await openTelemetryApi();
    let span: Span | undefined;
    if (api) {
      span = api.trace
        .getTracer('jobpipe')
        .startSpan(
          `submit ${pipeline.name}`,
          { kind: api.SpanKind.PRODUCER, attributes: { 'jobpipe.pipeline': pipeline.name, 'jobpipe.batch': batchId } },
          parentContext(api, options),
        );
      const traced = span.spanContext();
      if (api.isSpanContextValid(traced)) {
        request.traceparent = traceparentOf(traced);
        const tracestate = traced.traceState?.serialize() ?? options.tracestate;
        if (tracestate && tracestate.length <= MAX_TRACESTATE_LENGTH) request.tracestate = tracestate;
      }
    } else if (options.traceparent !== undefined && TRACEPARENT.test(options.traceparent.trim())) {
      request.traceparent = options.traceparent.trim();
      if (options.tracestate && options.tracestate.length <= MAX_TRACESTATE_LENGTH) request.tracestate = options.tracestate;
    }
    try {
      await this.#queueBatch(queue, batchId, request, options);
    } catch (error) {
      span?.setStatus({ code: 2, message: (error as Error).message });
      throw error;
    } finally {
      span?.end();
    }
    await this.redis.sadd(this.ledger.keys.pipelines, pipeline.name);
    return batchId;
  }

  async #queueBatch(queue: Queue, batchId: string, request: BatchRequest, options: SubmitOptions): Promise<void> {
    await queue.add('batch', options.priority === undefined ? request : { ...request, priority: options.priority }, {
      jobId: batchId,
      // BullMQ takes a job without a priority before every prioritized one: jobpipe's batch without
      // one comes after them, so it queues at the lowest priority (first in, first out among those).
      priority: options.priority ?? LOWEST_PRIORITY,
      // A batch that fails (its split threw) stays failed for a person to look at; a crash of the
      // ventilator is not a failure: BullMQ hands the batch to the next one, which resumes it.
      attempts: 1,
      // Done batches go after their retention, failed ones after the dead retention, as dead
      // letters do. BullMQ removes them as it finishes a job: each finished job sweeps the jobs
      // older than its own `age` (and beyond the newest 10,000), so a queue's last batch stays
      // until the next one finishes, and a shorter retention also sweeps older jobs of longer ones
      // (the ledger, not the intake job, keeps the batch's summary and results).
      removeOnComplete: keepFor(options.retentionMs ?? DEFAULT_RETENTION.retentionMs),
      removeOnFail: keepFor(options.deadRetentionMs ?? DEFAULT_RETENTION.deadRetentionMs),
    });
  }

  /** Where a batch stands, from the queue and the ledger; undefined when it is unknown. */
  async status(pipelineName: string, batchId: string): Promise<BatchStatusReport | undefined> {
    const queue = this.queue(pipelineName);
    // The state first: a job read before it failed lacks the failedReason that its state promises.
    const jobState = await queue.getJobState(batchId);
    const job = jobState === 'unknown' ? undefined : await queue.getJob(batchId);
    const info = await this.ledger.batchInfo(batchId);
    // Not in this pipeline's queue, and the ledger's batch of that id is another pipeline's.
    if (!job && (!info || info.pipeline !== pipelineName)) return undefined;
    return report(batchId, pipelineName, jobState, job?.data as BatchRequest | undefined, info, job?.failedReason ?? null, job?.returnvalue);
  }

  /** Where a batch stands, whichever pipeline it belongs to. */
  async find(batchId: string): Promise<BatchStatusReport | undefined> {
    const info = await this.ledger.batchInfo(batchId);
    const pipelines = info ? [info.pipeline] : await this.redis.smembers(this.ledger.keys.pipelines);
    for (const pipeline of pipelines) {
      const report = await this.status(pipeline, batchId);
      if (report) return report;
    }
    return undefined;
  }

  /** The newest batches of every pipeline ever submitted to, newest first. */
  async list(limit = 20): Promise<BatchStatusReport[]> {
    const reports: BatchStatusReport[] = [];
    for (const pipeline of await this.redis.smembers(this.ledger.keys.pipelines)) reports.push(...(await this.listOf(pipeline, INTAKE_STATES, limit)));
    return reports.sort((a, b) => (b.submittedAt ?? 0) - (a.submittedAt ?? 0)).slice(0, limit);
  }

  /** The newest `limit` batches of one pipeline whose intake jobs are in these BullMQ states, each read once. */
  async listOf(pipeline: string, states: readonly IntakeState[], limit: number): Promise<BatchStatusReport[]> {
    const reports: BatchStatusReport[] = [];
    for (const job of await this.queue(pipeline).getJobs([...states], 0, limit - 1, false)) {
      if (!job?.id) continue;
      const info = await this.ledger.batchInfo(job.id);
      reports.push(report(job.id, pipeline, await job.getState(), job.data as BatchRequest, info, job.failedReason ?? null, job.returnvalue));
    }
    return reports;
  }

  /**
   * Waits for the batch to end: resolves with its summary, rejects when it failed. `onProgress` is
   * called about once a second while it runs.
   */
  async waitForBatch(pipelineName: string, batchId: string, onProgress: (report: BatchStatusReport) => void = () => {}, pollMs = 500): Promise<BatchSummary> {
    for (;;) {
      const report = await this.status(pipelineName, batchId);
      if (!report) throw new SubmissionError(`batch ${batchId} is unknown`);
      onProgress(report);
      const summary = endOf(report);
      if (summary) return summary;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /**
   * Submits a batch and waits for its end, as `submit` then `waitForBatch` do, and submits it
   * again under the same id if Redis loses it meanwhile: when neither its intake job nor its
   * ledger entry is there on two polls in a row (a failover to a replica that lagged, a restart
   * from an older snapshot), the submission this call was answered for is gone, and no
   * ventilator would ever run it. `onSubmitted` hears of each submission.
   */
  async submitAndWait(
    pipeline: Pipeline,
    input: unknown,
    options: SubmitOptions = {},
    hooks: { onSubmitted?: (batchId: string, again: boolean) => void; onProgress?: (report: BatchStatusReport) => void; pollMs?: number } = {},
  ): Promise<{ batchId: string; summary: BatchSummary }> {
    const batchId = await this.submit(pipeline, input, options);
    hooks.onSubmitted?.(batchId, false);
    let missing = 0;
    for (;;) {
      const report = await this.status(pipeline.name, batchId);
      if (!report) {
        if (++missing >= 2) {
          // What is left of the lost submission (its claim may have outlived the queue entry) goes first.
          await this.redis.del(this.ledger.keys.batch(batchId).submitted);
          await this.submit(pipeline, input, { ...options, batchId });
          hooks.onSubmitted?.(batchId, true);
          missing = 0;
        }
      } else {
        missing = 0;
        hooks.onProgress?.(report);
        const summary = endOf(report);
        if (summary) return { batchId, summary };
      }
      await new Promise((resolve) => setTimeout(resolve, hooks.pollMs ?? 500));
    }
  }

  /**
   * One page of a batch's recorded results (see RedisLedger.resultsPage): `cursor` '0' first,
   * then each page's `next` until it is null. Undefined when the batch is unknown or has expired.
   */
  resultsPage(batchId: string, cursor = '0', count = 1000): Promise<ResultsPage | undefined> {
    return this.ledger.resultsPage(batchId, cursor, count);
  }

  /**
   * Streams a batch's recorded results, a page of `pageSize` at a time (by seq once its split is
   * over; dead letters have none). Throws a SubmissionError when the batch is unknown or its keys
   * have expired (JOBPIPE_RETENTION after it was done).
   */
  async *results(batchId: string, options: { cursor?: string; pageSize?: number } = {}): AsyncGenerator<BatchResult> {
    let cursor: string | null = options.cursor ?? '0';
    while (cursor !== null) {
      const page = await this.resultsPage(batchId, cursor, options.pageSize ?? 1000);
      if (!page) throw new SubmissionError(`batch ${batchId} is unknown, or its results have expired`);
      for (const { seq, valueJson } of page.results) yield { seq, value: JSON.parse(valueJson) };
      cursor = page.next;
    }
  }

  /** A QueueEvents stream of a pipeline's intake queue, for callers that prefer events. */
  queueEvents(pipelineName: string): QueueEvents {
    return new QueueEvents(intakeQueueName(pipelineName), { connection: duplicateClient(this.redis), prefix: this.prefix });
  }

  queue(pipelineName: string): Queue {
    let queue = this.#queues.get(pipelineName);
    if (!queue) {
      queue = new Queue(intakeQueueName(pipelineName), { connection: this.redis, prefix: this.prefix });
      // Connection trouble surfaces as rejected calls; without a listener BullMQ prints it too.
      queue.on('error', () => {});
      this.#queues.set(pipelineName, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await this.#jobs.close();
    for (const queue of this.#queues.values()) await queue.close();
  }
}

/** A waited-on batch's summary once it is done; throws once it failed; undefined while it runs. */
function endOf(report: BatchStatusReport): BatchSummary | undefined {
  if (report.state === 'failed') throw new SubmissionError(`batch ${report.batch} failed: ${report.error ?? 'unknown error'}`);
  return report.state === 'done' && report.summary ? report.summary : undefined;
}

const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);

type OpenTelemetryApi = typeof import('@opentelemetry/api');
let api: Promise<OpenTelemetryApi | undefined> | undefined;

/** The OpenTelemetry API, loaded once, or undefined when it is not installed (it is optional here). */
function openTelemetryApi(): Promise<OpenTelemetryApi | undefined> {
  api ??= import('@opentelemetry/api').catch(() => undefined);
  return api;
}

/** The context a submission's span is a child of: the `traceparent` option when valid, else the active one. */
function parentContext(otel: OpenTelemetryApi, options: SubmitOptions): Context {
  const traceparent = options.traceparent?.trim();
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return otel.context.active();
  // 00-<trace id>-<span id>-<flags>, each at its place (the pattern checked them).
  const parent: SpanContext = {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: Number.parseInt(traceparent.slice(53, 55), 16) & otel.TraceFlags.SAMPLED,
    isRemote: true,
  };
  return otel.isSpanContextValid(parent) ? otel.trace.setSpanContext(otel.context.active(), parent) : otel.context.active();
}

function traceparentOf(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${spanContext.traceFlags & 1 ? '01' : '00'}`;
}

/** BullMQ's removeOnComplete / removeOnFail for a retention in ms (0: kept, up to the newest 10,000). */
function keepFor(retentionMs: number): { age?: number; count: number } {
  return retentionMs > 0 ? { age: Math.ceil(retentionMs / 1000), count: 10_000 } : { count: 10_000 };
}

/**
 * Checks an input before it is queued: against the pipeline's `input` schema and its `validate`
 * (see parseInput), or, with neither, by starting its split and taking one job.
 */
export async function validateInput(pipeline: Pipeline, input: unknown): Promise<void> {
  try {
    JSON.stringify(input);
  } catch (error) {
    throw new SubmissionError(`input is not JSON: ${(error as Error).message}`);
  }
  if (pipeline.input || pipeline.validate) {
    try {
      await parseInput(pipeline, input);
      return;
    } catch (error) {
      if (error instanceof InputError) throw new SubmissionError(error.message);
      throw error;
    }
  }
  try {
    const jobs = pipeline.split(input);
    const iterator = Symbol.asyncIterator in jobs ? jobs[Symbol.asyncIterator]() : (jobs as Iterable<unknown>)[Symbol.iterator]();
    await iterator.next();
    await iterator.return?.();
  } catch (error) {
    if (error instanceof PipelineError) throw error;
    throw new SubmissionError(`${pipeline.name} rejects the input: ${(error as Error).message}`);
  }
}

function report(
  batch: string,
  pipeline: string,
  jobState: string,
  request: BatchRequest | undefined,
  info: BatchInfo | undefined,
  failedReason: string | null,
  /** What the intake job completed with: the batch's summary. */
  returnvalue?: unknown,
): BatchStatusReport {
  // A completed intake job whose ledger keys have expired (its retention ran out first): done,
  // with the summary the job kept.
  const kept = !info && jobState === 'completed' && isSummary(returnvalue) ? returnvalue : null;
  let state: BatchState;
  if (jobState === 'failed') state = 'failed';
  else if (info?.status === 'done' || kept) state = 'done';
  else if (info || jobState === 'active') state = 'running';
  else state = 'queued';
  return {
    batch,
    pipeline,
    state,
    submittedAt: request?.submittedAt ?? null,
    done: info ? info.recorded + info.dead + info.cancelled : (kept?.jobs ?? 0),
    total: info?.total ?? kept?.jobs ?? null,
    failed: info?.dead ?? kept?.failed ?? 0,
    cancelled: info?.cancelled ?? kept?.cancelled ?? 0,
    cancelledAt: info?.cancelledAt ?? null,
    summary: info?.summary ?? kept,
    error: state === 'failed' ? failedReason : null,
  };
}

function isSummary(value: unknown): value is BatchSummary {
  return typeof value === 'object' && value !== null && typeof (value as BatchSummary).jobs === 'number' && typeof (value as BatchSummary).failed === 'number';
}
