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
  /** Prefix of the keys that remember recent record calls (see commands/record-8.lua). */
  readonly calls: string;
}

/**
 * Every Redis key jobpipe uses, built in this one place. `prefix` keeps tests and several
 * deployments apart on one Redis.
 */
export class LedgerKeys {
  readonly #batches = new Map<string, BatchKeys>();

  constructor(readonly prefix: string) {}

  /** A batch's keys: `<prefix>:batch:<id>:<part>`. */
  batch(id: string): BatchKeys {
    let keys = this.#batches.get(id);
    if (!keys) {
      const base = `${this.prefix}:batch:${id}`;
      keys = {
        meta: base,
        inflight: `${base}:inflight`,
        leases: `${base}:leases`,
        packs: `${base}:packs`,
        results: `${base}:results`,
        dead: `${base}:dead`,
        errors: `${base}:errors`,
        workers: `${base}:workers`,
        calls: `${base}:call:`,
      };
      // Bounded: a long-running process meets many batches over its life.
      if (this.#batches.size > 1000) this.#batches.clear();
      this.#batches.set(id, keys);
    }
    return keys;
  }

  /** All batches by start time (zset, score = startedAt). */
  get batches(): string {
    return `${this.prefix}:batches`;
  }

  /** Batches of a pipeline that are not done (set). */
  active(pipeline: string): string {
    return `${this.prefix}:active:${pipeline}`;
  }
}
