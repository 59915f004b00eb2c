import type { LedgerKeys } from './keys.js';
import type { LedgerCommands, RedisClient } from './scripts.js';

/** What an operator set for a pipeline: read by its ventilators, set by `jobpipe pause/resume/limit`. */
export interface PipelineControlState {
  /** No job is sent while paused (jobs out run on; batches and jobs are still taken in). */
  paused: boolean;
  /** Jobs sent per second at most, over all ventilators; undefined: the ventilators' own JOBPIPE_RATE_LIMIT. */
  rateLimit: number | undefined;
}

/** A pipeline's controls in Redis, and the token bucket its rate limit draws from. */
export class PipelineControls {
  readonly #key: string;
  readonly #tokens: string;

  constructor(
    readonly redis: RedisClient & LedgerCommands,
    keys: LedgerKeys,
    readonly pipeline: string,
  ) {
    this.#key = keys.controls(pipeline);
    this.#tokens = keys.rateTokens(pipeline);
  }

  async read(): Promise<PipelineControlState> {
    const [paused, rateLimit] = await this.redis.hmget(this.#key, 'paused', 'rateLimit');
    return { paused: paused === '1', rateLimit: rateLimit === null ? undefined : Number(rateLimit) };
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
