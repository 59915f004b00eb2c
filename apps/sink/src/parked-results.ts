import type { JobResult } from '@jobpipe/protocol';

/** Results of one batch from one worker, recorded by one ledger call. */
export interface RecordGroup {
  batch: string;
  worker: string;
  results: JobResult[];
  /**
   * What the results are reckoned to hold, in bytes: each result's share of the Results message
   * it came in (the message's size on the wire over its results), summed. Used for parking only.
   */
  bytes: number;
}

/** What ParkedResults holds at most, all batches together. */
export interface ParkedLimits {
  /** Results (SinkOptions.maxParkedResults): bounds the per-result overhead of the objects. */
  maxResults: number;
  /** Bytes, as RecordGroup.bytes reckons them (SinkOptions.maxParkedBytes): bounds the payloads. */
  maxBytes: number;
}

/**
 * Results that arrived before their batch's BatchStart (persistence off only: they travel on
 * different connections), by batch, up to a number of results and a number of bytes in all.
 *
 * A group's size is its results' share of the wire size of the messages they came in, carried
 * from the inbox: the receive loop has it already, so it costs nothing more than one addition
 * per result while grouping. The wire is JSON, so that share already is about the JSON length of
 * each result, value or error; measuring it again when parking would serialize every parked
 * value a second time to learn what was known. A share is exact for a message whose results are
 * alike, and the header and fields it includes only err on the safe side. The decoded objects'
 * own overhead, per result whatever its size, is what maxResults bounds.
 */
export class ParkedResults {
  readonly #groups = new Map<string, { group: RecordGroup; bytes: number }[]>();
  #results = 0;
  #bytes = 0;

  constructor(private readonly limits: ParkedLimits) {}

  /** Parks the group; false (nothing parked) when it would pass either limit. */
  park(group: RecordGroup): boolean {
    // Whole bytes, so that taking a batch's groups gives back exactly what parking them counted.
    const bytes = Math.ceil(group.bytes);
    if (this.#results + group.results.length > this.limits.maxResults) return false;
    if (this.#bytes + bytes > this.limits.maxBytes) return false;
    this.#results += group.results.length;
    this.#bytes += bytes;
    let parked = this.#groups.get(group.batch);
    if (!parked) this.#groups.set(group.batch, (parked = []));
    parked.push({ group, bytes });
    return true;
  }

  /** The batch's parked groups, now no longer parked. */
  take(batch: string): RecordGroup[] {
    const parked = this.#groups.get(batch);
    if (!parked) return [];
    this.#groups.delete(batch);
    for (const { group, bytes } of parked) {
      this.#results -= group.results.length;
      this.#bytes -= bytes;
    }
    return parked.map(({ group }) => group);
  }

  get results(): number {
    return this.#results;
  }

  /** Bytes parked, as RecordGroup.bytes reckons them (rounded up per group). */
  get bytes(): number {
    return this.#bytes;
  }
}
