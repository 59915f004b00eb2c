import type { LedgerKeys } from './keys.js';
import type { LedgerCommands, RedisClient } from './scripts.js';

/** What an operator set for a pipeline: read by its ventilators, set by `jobpipe pause/resume/limit`. */
export interface PipelineControlState {
  /** No job is sent while paused (jobs out run on; batches and jobs are still taken in). */
  paused: boolean;
  /** Jobs sent per second at most, over all ventilators; undefined: the ventilators' own JOBPIPE_RATE_LIMIT. */
  rateLimit: number | undefined;
  /** The cancels of the last CANCEL_NOTICE_MS, oldest first: each a batch, or jobs of one. */
  cancels: CancelNotice[];
}

/** A cancel as the ventilators hear of it: the whole batch (no seqs), or these of its jobs. */
export interface CancelNotice {
  batch: string;
  seqs?: number[];
}

/**
 * How long a cancel stays in the notice: a ventilator reads it within CONTROLS_EVERY_MS, or when it
 * starts. After that the ledger alone keeps the cancelled jobs from being sent or recorded.
 */
export const CANCEL_NOTICE_MS = 10 * 60_000;

/** A pipeline's controls in Redis, and the token bucket its rate limit draws from. */
export class PipelineControls {
  readonly #key: string;
  readonly #tokens: string;
  readonly #cancels: string;

  constructor(
    readonly redis: RedisClient & LedgerCommands,
    keys: LedgerKeys,
    readonly pipeline: string,
  ) {
    this.#key = keys.controls(pipeline);
    this.#tokens = keys.rateTokens(pipeline);
    this.#cancels = keys.cancels(pipeline);
  }

  async read(now = Date.now()): Promise<PipelineControlState> {
    const [[paused, rateLimit], notices] = await Promise.all([
      this.redis.hmget(this.#key, 'paused', 'rateLimit'),
      this.redis.zrangebyscore(this.#cancels, now - CANCEL_NOTICE_MS, '+inf'),
    ]);
    return { paused: paused === '1', rateLimit: rateLimit === null ? undefined : Number(rateLimit), cancels: notices.flatMap(parseNotice) };
  }

  /** Tells the pipeline's ventilators of a cancel (done in the ledger already), and forgets old ones. */
  async noteCancel(notice: CancelNotice, now = Date.now()): Promise<void> {
    await this.redis
      .multi()
      .zadd(this.#cancels, now, cancelNoticeKey(notice))
      .zremrangebyscore(this.#cancels, '-inf', now - CANCEL_NOTICE_MS)
      .exec();
  }

  async setPaused(paused: boolean): Promise<void> {
    if (paused) await this.redis.hset(this.#key, 'paused', '1');
    else await this.redis.hdel(this.#key, 'paused');
  }

  /** Sets the rate limit (jobs/s, 0 for none), or with undefined leaves it to the ventilators' own setting. */
  async setRateLimit(jobsPerSecond: number | undefined): Promise<void> {
    if (jobsPerSecond === undefined) await this.redis.hdel(this.#key, 'rateLimit');
    else await this.redis.hset(this.#key, 'rateLimit', String(jobsPerSecond));
  }

  /** Takes up to `want` tokens of a bucket that fills at `rate` per second and holds `burst`: how many it got. */
  takeTokens(rate: number, burst: number, want: number, now = Date.now()): Promise<number> {
    return this.redis.jobpipeTakeTokens(this.#tokens, now, rate, burst, want);
  }
}

/** A notice as the notice zset holds it: one member per cancel, the same for the same cancel. */
export function cancelNoticeKey(notice: CancelNotice): string {
  return JSON.stringify([notice.batch, notice.seqs ?? null]);
}

/** A notice as noteCancel wrote it; anything else (another version's) is left out. */
function parseNotice(member: string): CancelNotice[] {
  try {
    const [batch, seqs] = JSON.parse(member) as [unknown, unknown];
    if (typeof batch !== 'string') return [];
    if (seqs === null) return [{ batch }];
    return Array.isArray(seqs) && seqs.every((seq) => Number.isSafeInteger(seq)) ? [{ batch, seqs: seqs as number[] }] : [];
  } catch {
    return [];
  }
}
