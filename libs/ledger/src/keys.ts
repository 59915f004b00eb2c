/** The Redis keys of one batch, built once per batch and reused by every command on it. */
export interface BatchKeys {
  readonly meta: string;
  readonly inflight: string;
  readonly leases: string;
  /** Leases of whole packs of fresh jobs (see commands/expire-packs-3.lua). */
  readonly packs: string;
  readonly results: string;
  readonly dead: string;
  readonly errors: string;
  readonly workers: string;
  /** Hash seq -> epoch ms: jobs cancelled one by one (commands/cancel-7.lua); never sent, never recorded. */
  readonly cancelled: string;
  /** Prefix of the keys that remember recent record calls (see commands/record-9.lua). */
  readonly calls: string;
  /**
   * Set while `jobpipe submit` claims the batch id (see JobpipeClient.submit), to JSON
   * `{at, retentionMs?, deadRetentionMs?}`: the submission's own retention, which
   * commands/complete-10.lua reads.
   */
  readonly submitted: string;
}

/** The keys of a pipeline's single jobs (LedgerKeys.jobs). */
export interface JobStreamKeys {
  /** Stream: job entries and bucket close entries (commands/add-jobs-5.lua). */
  readonly stream: string;
  /** Hash: the open bucket of each priority. */
  readonly buckets: string;
  /** Hash: idempotency key -> the id of the job it added. */
  readonly idempotency: string;
  /** Zset: idempotency key by when it is forgotten. */
  readonly idempotencyTimes: string;
  /** Zset: jobs not to run before their score (commands/promote-delayed-2.lua). */
  readonly delayed: string;
}

/**
 * Every Redis key jobpipe uses, built in this one place (BullMQ builds the keys of its intake
 * queues itself, from `intakeQueue` and the prefix). `prefix` keeps tests and several deployments
 * apart on one Redis; every key starts with `<prefix>:`, so an ACL user given `~<prefix>:*` may use
 * them all.
 *
 * Redis Cluster: a Lua script or a MULTI may only touch keys of one hash slot. Every key of one
 * batch carries the batch's hash tag, `{<batch id>}`, so each batch lives in one slot and the
 * scripts, which work on one batch at a time, run on a cluster; batches spread over the slots.
 * The keys that are not a batch's (`batches`, `expiring`, `active`, `pipelines`) sit in slots of their own
 * and are never touched in one script or MULTI together with a batch's keys. (A prefix that holds
 * `{...}` itself would put every key in that one slot: it works, on one node.)
 *
 * Layout 2 (SCRIPTS_VERSION 9): `<prefix>:batch:{<id>}:<part>`; layout 1 had no braces
 * (`<prefix>:batch:<id>:<part>`, `<prefix>:submitted:<id>`) and intake queues named
 * `intake-<pipeline>`. See the README,
 * Guarantees, for upgrading.
 */
/**
 * The KEYS of commands/complete-10.lua, in its order: every key of the batch (the record calls'
 * keys aside: they expire on their own, see RECORD_CALL_TTL_MS).
 */
export function completeKeys(k: BatchKeys): string[] {
  return [k.meta, k.packs, k.inflight, k.leases, k.results, k.dead, k.errors, k.workers, k.submitted, k.cancelled];
}

/** The KEYS of commands/retry-dead-10.lua, in its order: every key of the batch, the record calls' aside. */
export function retryDeadKeys(k: BatchKeys): string[] {
  return [k.dead, k.inflight, k.leases, k.errors, k.meta, k.results, k.workers, k.submitted, k.packs, k.cancelled];
}

/** The KEYS of commands/record-9.lua, in its order: a batch's keys and the key of one record call. */
export function recordKeys(k: BatchKeys, call: string): string[] {
  return [k.inflight, k.leases, k.results, k.dead, k.errors, k.meta, k.workers, call, k.cancelled];
}

/** The KEYS of commands/cancel-7.lua, in its order. */
export function cancelKeys(k: BatchKeys): string[] {
  return [k.inflight, k.leases, k.packs, k.results, k.dead, k.meta, k.cancelled];
}

export class LedgerKeys {
  readonly #batches = new Map<string, BatchKeys>();

  constructor(readonly prefix: string) {}

  /**
   * A batch's keys: `<prefix>:batch:{<id>}` (its meta hash), `<prefix>:batch:{<id>}:<part>`, and
   * `<prefix>:submitted:{<id>}`.
   */
  batch(id: string): BatchKeys {
    let keys = this.#batches.get(id);
    if (!keys) {
      const base = `${this.prefix}:batch:{${id}}`;
      keys = {
        meta: base,
        inflight: `${base}:inflight`,
        leases: `${base}:leases`,
        packs: `${base}:packs`,
        results: `${base}:results`,
        dead: `${base}:dead`,
        errors: `${base}:errors`,
        workers: `${base}:workers`,
        cancelled: `${base}:cancelled`,
        calls: `${base}:call:`,
        submitted: `${this.prefix}:submitted:{${id}}`,
      };
      // Bounded: a long-running process meets many batches over its life.
      if (this.#batches.size > 1000) this.#batches.clear();
      this.#batches.set(id, keys);
    }
    return keys;
  }

  /** All batches by start time (zset, score = startedAt). Its own slot. */
  get batches(): string {
    return `${this.prefix}:batches`;
  }

  /**
   * Done batches by the time their keys expire (zset, score = epoch ms; see RedisLedger.complete
   * and trimExpired): how `batches` loses the batches that are gone, at a cost that follows the
   * batches expiring, not the batches ever run. Its own slot.
   */
  get expiring(): string {
    return `${this.prefix}:expiring`;
  }

  /**
   * A pipeline's single jobs (see JobStream): the stream that producers add to and ventilators
   * read in a consumer group, the open buckets, and the idempotency keys, all in the slot of the
   * hash tag `{jobs-<pipeline>}`. A bucket, once its jobs are read, is a batch like any other.
   */
  jobs(pipeline: string): JobStreamKeys {
    const base = `${this.prefix}:jobs:{jobs-${pipeline}}`;
    return {
      stream: `${base}:stream`,
      buckets: `${base}:buckets`,
      idempotency: `${base}:keys`,
      idempotencyTimes: `${base}:key-times`,
      delayed: `${base}:delayed`,
    };
  }

  /**
   * The pub/sub channel on which the sink says that jobs of a bucket of single jobs were recorded
   * (the message is the bucket's id): waitForJob looks at once rather than at its next poll.
   * A channel, not a key: PUBLISH reaches every node of a cluster.
   */
  jobsDone(pipeline: string): string {
    return `${this.prefix}:jobs-done:${pipeline}`;
  }

  /**
   * A counter every durable role increments now and then (LedgerClock): a value lower than one
   * a process saw before means Redis went back in time. In the slot of `{clock}`, with
   * `wentBack`: a tick reads both at once.
   */
  get clock(): string {
    return `${this.prefix}:{clock}`;
  }

  /**
   * How many times a role found the clock behind (LedgerClock): written after the loss, so every
   * other role hears of it at its next tick, even one whose own ticks the loss did not take.
   */
  get wentBack(): string {
    return `${this.prefix}:{clock}:went-back`;
  }

  /** A pipeline's controls, set from the CLI or the client (hash: paused, rateLimit). Its own slot. */
  controls(pipeline: string): string {
    return `${this.prefix}:controls:{controls-${pipeline}}`;
  }

  /**
   * A pipeline's recent cancels, for its ventilators to hear of (zset: `[batch, seqs or null]` as
   * JSON, by when; see PipelineControls.noteCancel). In the slot of its controls.
   */
  cancels(pipeline: string): string {
    return `${this.prefix}:cancels:{controls-${pipeline}}`;
  }

  /** A pipeline's rate-limit token bucket, shared by its ventilators (commands/take-tokens-1.lua). Its own slot. */
  rateTokens(pipeline: string): string {
    return `${this.prefix}:rate:{controls-${pipeline}}`;
  }

  /** Batches of a pipeline that are not done (set). Its own slot. */
  active(pipeline: string): string {
    return `${this.prefix}:active:${pipeline}`;
  }

  /** Names of the pipelines that batches were submitted to, or whose ventilator ran (set). Its own slot. */
  get pipelines(): string {
    return `${this.prefix}:pipelines`;
  }

  /**
   * The ventilators that published a worker board lately (zset: ventilator id by when), and one
   * ventilator's board (JSON, expiring: see apps/ventilator/src/worker-board.ts). Read by the
   * console; each key in its own slot, read one at a time.
   */
  get boards(): string {
    return `${this.prefix}:boards`;
  }

  board(ventilator: string): string {
    return `${this.prefix}:board:${ventilator}`;
  }

  /**
   * The BullMQ queue that holds a pipeline's submitted batches, under the BullMQ prefix `prefix`:
   * BullMQ's keys are `<prefix>:{intake-<pipeline>}:<part>`. Wrapping the queue name in braces
   * is how BullMQ runs on a Redis Cluster (its scripts touch many keys of one queue): every key
   * of a queue in one slot, each pipeline's queue in its own.
   */
  static intakeQueue(pipeline: string): string {
    return `{intake-${pipeline}}`;
  }
}
