import type { JobResult } from '@jobpipe/protocol';

/** Results of one batch from one worker, recorded by one ledger call. */
export interface RecordGroup {
  batch: string;
  worker: string;
  results: JobResult[];
}

/**
 * Results that arrived before their batch's BatchStart (persistence off only: they travel on
 * different connections), by batch, up to a number of results in all.
 */
export class ParkedResults {
  readonly #groups = new Map<string, RecordGroup[]>();
  #results = 0;

  constructor(private readonly maxResults: number) {}

  /** Parks the group; false (nothing parked) when it would pass the limit. */
  park(group: RecordGroup): boolean {
    if (this.#results + group.results.length > this.maxResults) return false;
    this.#results += group.results.length;
    let parked = this.#groups.get(group.batch);
    if (!parked) this.#groups.set(group.batch, (parked = []));
    parked.push(group);
    return true;
  }

  /** The batch's parked groups, now no longer parked. */
  take(batch: string): RecordGroup[] {
    const parked = this.#groups.get(batch);
    if (!parked) return [];
    this.#groups.delete(batch);
    this.#results -= parked.reduce((sum, group) => sum + group.results.length, 0);
    return parked;
  }

  get results(): number {
    return this.#results;
  }
}
