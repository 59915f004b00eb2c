import type { JobError } from '@jobpipe/protocol';
import { WireErrorName } from '@jobpipe/protocol/errors';
import type { BatchKeys, JobStreamKeys, LedgerKeys } from './keys.js';
import type { LedgerCommands, RedisClient } from './scripts.js';

/** The consumer group of every ventilator of a pipeline on its job stream. */
export const VENTILATORS_GROUP = 'ventilators';

/** A single job as a producer adds it. */
export interface NewJob {
  /** The job's payload, as the handler gets it; must be JSON. */
  payload: unknown;
  /**
   * An idempotency key: adding a job with a key given before (within the key's retention) adds
   * nothing and returns the first job's id.
   */
  key?: string;
  /** 1 is the highest; a job without one comes after every job with one. */
  priority?: number;
  /** Run no earlier than this (epoch ms). */
  runAt?: number;
}

/** What `add` did with one job. */
export interface AddedJob {
  /** `<bucket>:<seq>`: the job's id for getJob and waitForJob, and its JobContext.jobId. */
  id: string;
  /** False when its key had been given before: nothing was added, `id` is the first job's. */
  added: boolean;
}

/** An entry of the job stream, as a ventilator reads it. */
export type StreamEntry =
  | { readonly entryId: string; readonly kind: 'job'; readonly bucket: string; readonly seq: number; readonly payloadJson: string; readonly priority?: number }
  | { readonly entryId: string; readonly kind: 'close'; readonly bucket: string; readonly total: number };

/** How buckets are cut and keys kept. */
export interface JobStreamOptions {
  /** Jobs per bucket, at most. @default 10000 */
  bucketMaxJobs?: number;
  /** How long a bucket takes jobs, at most, in ms. @default 2000 */
  bucketMaxMs?: number;
  /** How long an idempotency key is kept, in ms. @default a day */
  keyTtlMs?: number;
}

const DEFAULTS = { bucketMaxJobs: 10_000, bucketMaxMs: 2000, keyTtlMs: 86_400_000 };
/** Jobs per add-jobs call, at most: one script run holds Redis for all of them. */
const MAX_PER_CALL = 1000;

/**
 * The pipeline of a bucket of single jobs (`<pipeline>~...`, as add-jobs-5.lua names them), or
 * undefined for a batch id, which may not hold a `~`.
 */
export function bucketPipeline(batch: string): string | undefined {
  const tilde = batch.indexOf('~');
  return tilde > 0 ? batch.slice(0, tilde) : undefined;
}

/** A job id's parts, or undefined for a string that is no job id. */
export function parseJobId(id: string): { bucket: string; seq: number } | undefined {
  const colon = id.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const seq = id.slice(colon + 1);
  if (!/^\d{1,15}$/.test(seq)) return undefined;
  return { bucket: id.slice(0, colon), seq: Number(seq) };
}

/**
 * A pipeline's single jobs in Redis: producers `add` them to a stream (commands/add-jobs-5.lua),
 * where each gets its id in a bucket; the pipeline's ventilators read the stream in one consumer
 * group, run each bucket as a batch, and acknowledge entries once their jobs are written ahead.
 * Every key is in the slot of `{jobs-<pipeline>}`.
 */
export class JobStream {
  readonly keys: JobStreamKeys;
  readonly #o: Required<JobStreamOptions>;

  constructor(
    readonly redis: RedisClient & LedgerCommands,
    ledgerKeys: LedgerKeys,
    readonly pipeline: string,
    options: JobStreamOptions = {},
  ) {
    this.keys = ledgerKeys.jobs(pipeline);
    this.#o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  }

  /** Adds jobs, many per round trip; their ids in the order given. */
  async add(jobs: readonly NewJob[], now = Date.now()): Promise<AddedJob[]> {
    const added: AddedJob[] = [];
    for (let start = 0; start < jobs.length; start += MAX_PER_CALL) {
      const args: (string | number)[] = [];
      for (const job of jobs.slice(start, start + MAX_PER_CALL)) {
        args.push(
          job.priority === undefined ? '' : job.priority,
          job.key ?? '',
          job.runAt ?? '',
          JSON.stringify(job.payload === undefined ? null : job.payload),
        );
      }
      const { stream, buckets, delayed, idempotency, idempotencyTimes } = this.keys;
      const { keyTtlMs } = this.#o;
      const reply = await this.redis.jobpipeAddJobs(
        stream,
        buckets,
        delayed,
        idempotency,
        idempotencyTimes,
        now,
        this.#o.bucketMaxJobs,
        this.#o.bucketMaxMs,
        keyTtlMs,
        this.pipeline,
        ...args,
      );
      for (let i = 0; i < reply.length; i += 2) added.push({ id: String(reply[i]), added: Number(reply[i + 1]) === 1 });
    }
    return added;
  }

  /** Makes the ventilators' consumer group (and the stream) unless they exist; it reads from the stream's start. */
  async ensureGroup(): Promise<void> {
    await this.redis.xgroup('CREATE', this.keys.stream, VENTILATORS_GROUP, '0', 'MKSTREAM').catch((error: Error) => {
      if (!error.message.includes('BUSYGROUP')) throw error;
    });
  }

  /**
   * New entries for `consumer`, up to `count`, waiting up to `blockMs` for the first. Blocks the
   * connection it is given: pass one of its own (duplicateClient).
   */
  async read(reader: RedisClient, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    const reply = (await reader.xreadgroup('GROUP', VENTILATORS_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.keys.stream, '>')) as
      | [string, [string, string[]][]][]
      | null;
    return reply ? parseEntries(reply[0]![1]) : [];
  }

  /**
   * Entries read by a consumer and not acknowledged for `minIdleMs` (its ventilator stopped, or
   * holds them still), now this consumer's: up to `count`.
   */
  async claimStale(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const reply = (await this.redis.xautoclaim(this.keys.stream, VENTILATORS_GROUP, consumer, minIdleMs, '0', 'COUNT', count)) as [
      string,
      [string, string[] | null][],
    ];
    return parseEntries(reply[1].filter((entry): entry is [string, string[]] => entry[1] !== null));
  }

  /** The entries are done with (written ahead, or a close taken in): acknowledged and deleted. */
  async ack(entryIds: readonly string[]): Promise<void> {
    if (entryIds.length === 0) return;
    await this.redis
      .multi()
      .xack(this.keys.stream, VENTILATORS_GROUP, ...entryIds)
      .xdel(this.keys.stream, ...entryIds)
      .exec();
  }

  /** Puts delayed jobs that are due on the stream, up to `max`; how many. */
  promoteDue(max: number, now = Date.now()): Promise<number> {
    return this.redis.jobpipePromoteDelayed(this.keys.delayed, this.keys.stream, now, max);
  }

  /** Closes the buckets that have taken jobs for long enough; how many. */
  async closeIdle(now = Date.now()): Promise<number> {
    return this.redis.jobpipeCloseBuckets(this.keys.stream, this.keys.buckets, now, this.#o.bucketMaxMs);
  }

  /**
   * Closes every open bucket now. After Redis went back in time an open bucket hands out again
   * the seqs of jobs it lost, whose late results could be taken for the new jobs' (see
   * record-9.lua, ARGV[9]); a new bucket has a new id.
   */
  async closeOpen(now = Date.now()): Promise<number> {
    return this.redis.jobpipeCloseBuckets(this.keys.stream, this.keys.buckets, now, 0);
  }

  /**
   * Single jobs on the stream that no ventilator has read yet (the consumer group's lag: those a
   * ventilator read and holds are its own jobs_waiting), and the age of the oldest entry, in ms (0
   * when none waits).
   */
  async waiting(now = Date.now()): Promise<{ jobs: number; oldestMs: number }> {
    const [groups, first] = await Promise.all([
      this.redis.xinfo('GROUPS', this.keys.stream).catch(() => [] as unknown[]),
      this.redis.xrange(this.keys.stream, '-', '+', 'COUNT', 1),
    ]);
    // An entry id starts with the ms it was added at. Close entries count as jobs here: a few.
    const oldestMs = first[0] ? Math.max(0, now - Number(first[0][0].split('-')[0])) : 0;
    const group = (groups as unknown[][]).map(fieldsOf).find((fields) => fields.name === VENTILATORS_GROUP);
    if (group?.lag !== null && group?.lag !== undefined) return { jobs: Number(group.lag), oldestMs };
    // No group yet (no ventilator ever ran): every entry waits. A null lag (Redis cannot count
    // it once entries were deleted past the group's position): the entries less those read.
    const length = await this.redis.xlen(this.keys.stream);
    return { jobs: Math.max(0, length - Number(group?.pending ?? 0)), oldestMs };
  }

  /** A close entry was taken in (the bucket's total is in the ledger): the bucket leaves the hash. */
  async closed(bucket: string): Promise<void> {
    await this.redis.hdel(this.keys.buckets, `closed:${bucket}`);
  }

  /** The jobs a bucket not yet in the ledger holds: open or closed, undefined when it holds none. */
  async waitingIn(bucket: string): Promise<number | undefined> {
    const fields = await this.redis.hgetall(this.keys.buckets);
    if (fields[`closed:${bucket}`] !== undefined) return Number(fields[`closed:${bucket}`]);
    for (const [field, value] of Object.entries(fields)) if (field.startsWith('open:') && value.startsWith(`${bucket}|`)) return Number(value.split('|')[2]);
    return undefined;
  }
}

/** A job's end: its value, or its error (a dead letter's last; `cancelled` for a job or batch cancelled before it was done). */
export type JobOutcome = { ok: true; value: unknown } | { ok: false; error: JobError; cancelled?: true };

/**
 * The outcomes of jobs of one batch or bucket, undefined for each that has none yet: its result,
 * or, for a dead letter, its last error. One round trip (the batch's slot).
 */
export async function readOutcomes(redis: RedisClient, keys: BatchKeys, seqs: readonly number[]): Promise<(JobOutcome | undefined)[]> {
  if (seqs.length === 0) return [];
  const replies = await redis
    .multi()
    .hmget(keys.results, ...seqs.map(String))
    .hmget(keys.dead, ...seqs.map(String))
    .hmget(keys.errors, ...seqs.map(String))
    .hmget(keys.cancelled, ...seqs.map(String))
    .hmget(keys.meta, 'cancelledAt')
    .exec();
  const [results, dead, errors, cancelled, [batchCancelledAt] = []] = (replies ?? []).map(([error, value]) => {
    if (error) throw error;
    return value as (string | null)[];
  });
  return seqs.map((_, i) => {
    const value = results?.[i];
    if (value !== null && value !== undefined) return { ok: true, value: JSON.parse(value) as unknown };
    const isDead = dead?.[i] !== null && dead?.[i] !== undefined;
    const cancelledAt = cancelled?.[i] ?? batchCancelledAt;
    if (!isDead && cancelledAt !== null && cancelledAt !== undefined)
      return { ok: false, cancelled: true, error: { name: WireErrorName.Cancelled, message: `cancelled at ${new Date(Number(cancelledAt)).toISOString()}` } };
    if (!isDead) return undefined;
    const error = errors?.[i];
    return { ok: false, error: error ? (JSON.parse(error) as JobError) : { name: WireErrorName.DeadLetter, message: 'ran out of attempts' } };
  });
}

function parseEntries(entries: [string, string[]][]): StreamEntry[] {
  const parsed: StreamEntry[] = [];
  for (const [entryId, flat] of entries) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    if (fields.c !== undefined) parsed.push({ entryId, kind: 'close', bucket: fields.c, total: Number(fields.n) });
    else if (fields.b !== undefined && fields.p !== undefined) {
      parsed.push({
        entryId,
        kind: 'job',
        bucket: fields.b,
        seq: Number(fields.s),
        payloadJson: fields.p,
        ...(fields.r === undefined ? {} : { priority: Number(fields.r) }),
      });
    }
  }
  return parsed;
}

/** A flat [name, value, ...] reply of XINFO as an object. */
function fieldsOf(flat: unknown[]): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = flat[i + 1];
  return fields;
}
