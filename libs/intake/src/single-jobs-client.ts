import {
  bucketPipeline,
  duplicateClient,
  JobStream,
  parseJobId,
  PipelineControls,
  readOutcomes,
  type JobOutcome,
  type NewJob,
  type RedisClient,
  type RedisLedger,
} from '@jobpipe/ledger';
import type { JobError } from '@jobpipe/protocol';
import { isBatchId, priorityProblem } from './queue-name.js';
import { SubmissionError } from './submission-error.js';

/** How a single job is added. */
export interface AddOptions {
  /**
   * An idempotency key (1-200 characters): a job added again with the same key, within a day,
   * is not added again; the call returns the first job's id.
   */
  jobId?: string;
  /** 1 is the highest; a job without one comes after every job with one. */
  priority?: number;
  /** Run no earlier than this many ms from now. */
  delayMs?: number;
  /** Run no earlier than this time (a Date or epoch ms). */
  runAt?: Date | number;
}

/** A single job as addBulk takes it. */
export interface BulkJob extends AddOptions {
  payload: unknown;
}

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** Where a single job stands. */
export interface JobReport {
  id: string;
  pipeline: string;
  state: JobState;
  /** The handler's result, once done. */
  value?: unknown;
  /** Why it failed, once failed (it ran out of attempts, or its error is not to be retried), or when it was cancelled. */
  error?: JobError;
}

const MAX_KEY_LENGTH = 200;
/** A payload above this is refused when added: a Jobs message could never carry it. */
const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024 - 4096;
/**
 * How often waitForJob looks, at first and at most, in ms, besides the looks the sink's word
 * brings (a bucket's jobs were recorded: the jobs-done channel). A look reads every job waited on
 * at once: a round trip per bucket, not per job.
 */
const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 200;

/**
 * The producer side of single jobs: `add` and `addBulk` put jobs on the pipeline's job stream
 * (many calls of one turn of the event loop in one round trip), `getJob` and `waitForJob` read
 * their outcome by id (all the jobs waited on in one round trip per bucket and look).
 */
export class SingleJobsClient {
  readonly #ledger: RedisLedger;
  readonly #streams = new Map<string, JobStream>();
  readonly #pending = new Map<string, { jobs: NewJob[]; settle: { resolve: (id: string) => void; reject: (error: Error) => void }[] }>();
  readonly #waiting = new Map<string, { bucket: string; seq: number; pipeline: string; done: ((report: JobReport) => void)[] }>();
  #polling = false;
  /** Told by the sink that a bucket's jobs were recorded (one connection, every pipeline waited on). */
  #listener: RedisClient | undefined;
  readonly #listening = new Set<string>();
  #wake: (() => void) | undefined;

  constructor(
    ledger: RedisLedger,
    readonly maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES,
  ) {
    this.#ledger = ledger;
  }

  /** Adds one job; resolves with its id. Calls made in one turn of the event loop share a round trip. */
  add(pipeline: string, payload: unknown, options: AddOptions = {}): Promise<string> {
    let job: NewJob;
    try {
      job = this.#check(pipeline, payload, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      let pending = this.#pending.get(pipeline);
      if (!pending) {
        this.#pending.set(pipeline, (pending = { jobs: [], settle: [] }));
        setImmediate(() => void this.#flush(pipeline));
      }
      pending.jobs.push(job);
      pending.settle.push({ resolve, reject });
    });
  }

  /** Adds many jobs at once; their ids in the order given. Nothing is added when one is refused. */
  async addBulk(pipeline: string, jobs: readonly BulkJob[]): Promise<string[]> {
    const checked = jobs.map((job) => this.#check(pipeline, job.payload, job));
    return (await this.#stream(pipeline).add(checked)).map((added) => added.id);
  }

  /** Where a job stands; undefined for an id that is no job of a pipeline, or whose retention is over. */
  async getJob(id: string): Promise<JobReport | undefined> {
    const parsed = singleJobOf(id);
    if (!parsed) return this.#batchJob(id);
    const { pipeline } = parsed;
    const keys = this.#ledger.keys.batch(parsed.bucket);
    const [outcome] = await readOutcomes(this.#ledger.redis, keys, [parsed.seq]);
    if (outcome) return report(id, pipeline, outcome);
    const [inflight, meta] = await Promise.all([
      this.#ledger.redis.hexists(keys.inflight, String(parsed.seq)),
      this.#ledger.redis.hmget(keys.meta, 'startedAt', 'total'),
    ]);
    if (inflight) return { id, pipeline, state: 'running' };
    // Not sent yet: in a bucket a ventilator has begun (any seq below its total, once known), or
    // still on the stream.
    const [startedAt, total] = meta;
    if (startedAt !== null) return total === null || parsed.seq < Number(total) ? { id, pipeline, state: 'queued' } : undefined;
    const held = await this.#stream(pipeline).waitingIn(parsed.bucket);
    return held !== undefined && parsed.seq < held ? { id, pipeline, state: 'queued' } : undefined;
  }

  /**
   * A job of a batch, `<batch>:<seq>`: its outcome once it has one, running while in flight,
   * queued while its batch has yet to send it; undefined for another id, or one unknown.
   */
  async #batchJob(id: string): Promise<JobReport | undefined> {
    const parsed = parseJobId(id);
    if (!parsed || !isBatchId(parsed.bucket)) return undefined;
    const { bucket: batch, seq } = parsed;
    const info = await this.#ledger.batchInfo(batch);
    if (!info) return undefined;
    const keys = this.#ledger.keys.batch(batch);
    const [outcome] = await readOutcomes(this.#ledger.redis, keys, [seq]);
    if (outcome) return report(id, info.pipeline, outcome);
    if (await this.#ledger.redis.hexists(keys.inflight, String(seq))) return { id, pipeline: info.pipeline, state: 'running' };
    if (info.status !== 'done' && (info.total === null || seq < info.total)) return { id, pipeline: info.pipeline, state: 'queued' };
    return undefined;
  }

  /**
   * Cancels a single job: if it has not run, it never will; if it runs, its handler's signal
   * aborts; either way its result is not recorded. True when this call cancelled it; false when it
   * had ended already (done, failed or cancelled: `getJob` says which).
   * @throws SubmissionError for an id that is no single job's, or a job that does not exist
   */
  async cancelJob(id: string): Promise<boolean> {
    const parsed = singleJobOf(id);
    if (!parsed) throw new SubmissionError(`${JSON.stringify(id)} is not a single job's id (<pipeline>~<bucket>:<seq>)`);
    // The bucket may still be taking jobs: how many it has, so a seq past them is refused.
    const known = await this.#stream(parsed.pipeline).waitingIn(parsed.bucket);
    return cancelJobs(this.#ledger, parsed.bucket, parsed.pipeline, parsed.seq, id, known);
  }

  /**
   * Resolves once the job is done or has failed, with its report. Rejects with a SubmissionError
   * for a string that is no single job's id, or after `timeoutMs` (an id that was never added
   * waits until then).
   */
  async waitForJob(id: string, options: { timeoutMs?: number } = {}): Promise<JobReport> {
    const parsed = singleJobOf(id);
    if (!parsed) throw new SubmissionError(`${JSON.stringify(id)} is not a single job's id (<pipeline>~<bucket>:<seq>)`);
    const { pipeline } = parsed;
    return new Promise<JobReport>((resolve, reject) => {
      let entry = this.#waiting.get(id);
      if (!entry) this.#waiting.set(id, (entry = { ...parsed, done: [] }));
      let timer: NodeJS.Timeout | undefined;
      const done = (job: JobReport) => {
        clearTimeout(timer);
        resolve(job);
      };
      entry.done.push(done);
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const waiting = this.#waiting.get(id);
          if (waiting) waiting.done = waiting.done.filter((other) => other !== done);
          if (waiting?.done.length === 0) this.#waiting.delete(id);
          reject(new SubmissionError(`job ${id} has no outcome after ${options.timeoutMs} ms`));
        }, options.timeoutMs);
      }
      this.#listen(pipeline);
      void this.#poll();
    });
  }

  /** Stops listening for the sink's word. */
  async close(): Promise<void> {
    this.#listener?.disconnect();
    this.#listener = undefined;
    this.#listening.clear();
  }

  #listen(pipeline: string): void {
    if (this.#listening.has(pipeline)) return;
    this.#listening.add(pipeline);
    if (!this.#listener) {
      this.#listener = duplicateClient(this.#ledger.redis);
      // Its trouble shows as slower looks (the polls go on); the role's connection reports Redis.
      this.#listener.on('error', () => {});
      this.#listener.on('message', () => this.#wake?.());
    }
    void this.#listener.subscribe(this.#ledger.keys.jobsDone(pipeline)).catch(() => this.#listening.delete(pipeline));
  }

  #stream(pipeline: string): JobStream {
    let stream = this.#streams.get(pipeline);
    if (!stream) this.#streams.set(pipeline, (stream = new JobStream(this.#ledger.redis, this.#ledger.keys, pipeline)));
    return stream;
  }

  #check(pipeline: string, payload: unknown, options: AddOptions): NewJob {
    if (options.jobId !== undefined && (typeof options.jobId !== 'string' || options.jobId.length === 0 || options.jobId.length > MAX_KEY_LENGTH))
      throw new SubmissionError(`jobId must be 1-${MAX_KEY_LENGTH} characters`);
    const badPriority = options.priority === undefined ? undefined : priorityProblem(options.priority);
    if (badPriority) throw new SubmissionError(badPriority);
    let json: string;
    try {
      json = JSON.stringify(payload === undefined ? null : payload);
    } catch (error) {
      throw new SubmissionError(`the payload of a ${pipeline} job is not JSON: ${(error as Error).message}`);
    }
    if (json.length > this.maxPayloadBytes / 3 && Buffer.byteLength(json) > this.maxPayloadBytes)
      throw new SubmissionError(`the payload of a ${pipeline} job has ${Buffer.byteLength(json)} bytes; a message carries ${this.maxPayloadBytes} at most`);
    if (options.delayMs !== undefined && (!Number.isFinite(options.delayMs) || options.delayMs < 0))
      throw new SubmissionError(`delayMs must be a number of ms >= 0, not ${options.delayMs}`);
    const runAt = options.runAt === undefined ? undefined : Number(options.runAt);
    if (runAt !== undefined && !Number.isFinite(runAt)) throw new SubmissionError(`runAt must be a Date or epoch ms, not ${String(options.runAt)}`);
    const at = options.delayMs !== undefined ? Date.now() + options.delayMs : runAt;
    return {
      payload,
      ...(options.jobId === undefined ? {} : { key: options.jobId }),
      ...(options.priority === undefined ? {} : { priority: options.priority }),
      ...(at === undefined ? {} : { runAt: Math.ceil(at) }),
    };
  }

  async #flush(pipeline: string): Promise<void> {
    const pending = this.#pending.get(pipeline)!;
    this.#pending.delete(pipeline);
    try {
      const added = await this.#stream(pipeline).add(pending.jobs);
      for (const [i, { resolve }] of pending.settle.entries()) resolve(added[i]!.id);
    } catch (error) {
      for (const { reject } of pending.settle) reject(error as Error);
    }
  }

  /** One loop for every job waited on: each look reads all of them, a round trip per bucket. */
  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    let pause = FIRST_POLL_MS;
    try {
      while (this.#waiting.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, pause);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.#wake = done;
        });
        this.#wake = undefined;
        const byBucket = new Map<string, string[]>();
        for (const [id, { bucket }] of this.#waiting) {
          const ids = byBucket.get(bucket);
          if (ids) ids.push(id);
          else byBucket.set(bucket, [id]);
        }
        let settled = 0;
        await Promise.all(
          [...byBucket].map(async ([bucket, ids]) => {
            const outcomes = await readOutcomes(
              this.#ledger.redis,
              this.#ledger.keys.batch(bucket),
              ids.map((id) => this.#waiting.get(id)!.seq),
            ).catch(() => []);
            ids.forEach((id, i) => {
              const outcome = outcomes[i];
              const entry = this.#waiting.get(id);
              if (!outcome || !entry) return;
              this.#waiting.delete(id);
              settled++;
              for (const done of entry.done) done(report(id, entry.pipeline, outcome));
            });
          }),
        );
        // Looks often while outcomes come, less often while none does.
        pause = settled > 0 ? FIRST_POLL_MS : Math.min(MAX_POLL_MS, pause * 2);
      }
    } finally {
      this.#polling = false;
    }
  }
}

/** A single job's id split up: its bucket (`<pipeline>~...`), seq and pipeline; undefined for any other string. */
export function singleJobOf(id: string): { bucket: string; seq: number; pipeline: string } | undefined {
  const parsed = parseJobId(id);
  const pipeline = parsed && bucketPipeline(parsed.bucket);
  return parsed && pipeline ? { ...parsed, pipeline } : undefined;
}

function report(id: string, pipeline: string, outcome: JobOutcome): JobReport {
  if (outcome.ok) return { id, pipeline, state: 'done', value: outcome.value };
  return { id, pipeline, state: outcome.cancelled ? 'cancelled' : 'failed', error: outcome.error };
}

/**
 * Cancels one job of a batch or bucket in the ledger and tells the pipeline's ventilators; true
 * when this call cancelled it. `knownJobs`: how many jobs a bucket still taking jobs has.
 * @throws SubmissionError when the job does not exist (yet)
 */
export async function cancelJobs(ledger: RedisLedger, batch: string, pipeline: string, seq: number, id: string, knownJobs?: number): Promise<boolean> {
  const { codes } = await ledger.cancel(batch, pipeline, [seq], knownJobs);
  if (codes === 'U') throw new SubmissionError(`job ${id} is unknown: no such job, or its batch has not split that far yet`);
  if (codes !== 'C') return false;
  await new PipelineControls(ledger.redis, ledger.keys, pipeline).noteCancel({ batch, seqs: [seq] });
  return true;
}
