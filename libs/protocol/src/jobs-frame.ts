import { encodeRaw } from './codec.js';

/** A job for `JobsFrameEncoder`: its payload is JSON text already (`null` for no payload). */
export interface PreEncodedJob {
  readonly seq: number;
  readonly attempt: number;
  /** `JSON.stringify(payload)`, with an undefined payload sent as `null` (PROTOCOL.md 3.1). */
  readonly payloadJson: string;
}

/**
 * A job's fields besides its payload and batch id, as `JobsFrameEncoder` writes them, in bytes at
 * most: 56 of keys and punctuation, an attempt (7 digits), a whole epoch-ms dispatchedAt (13) and
 * a seq of up to 14 digits. A batch id counts as its length; escaped or multi-byte characters
 * (and a longer seq) can make a frame bigger than sizes added up from this: check its length.
 */
export const JOB_OVERHEAD_BYTES = 90;

/** A Jobs frame's own bytes (header, pipeline name, brackets), in bytes at most. */
export const JOBS_FRAME_SLACK_BYTES = 300;

/**
 * Writes Jobs frames (PROTOCOL.md 3.1) from payloads that are JSON already, byte for byte what
 * `encode` writes for the same message, without parsing or stringifying a payload again. All
 * jobs of a frame share one batch and one `dispatchedAt` (a finite epoch-ms number), as the
 * ventilator sends them; the protocol allows more, `encode` writes that.
 *
 * ```ts
 * const jobs = new JobsFrameEncoder('primes');
 * const frame = jobs.encode('b-7f3a', Date.now(), [{ seq: 0, attempt: 1, payloadJson: '{"n":7}' }]);
 * ```
 *
 * The frame's size is `JOBS_FRAME_SLACK_BYTES` plus, per job, about its payload's bytes, the
 * batch id's and `JOB_OVERHEAD_BYTES`: a sender packs against that and checks the frame's length.
 */
export class JobsFrameEncoder {
  readonly #bodyStart: string;
  // The last batch's id as JSON: packs come a batch at a time, so one entry saves nearly every
  // JSON.stringify of it, and nothing has to be forgotten when a batch ends.
  #batch: string | undefined;
  #batchJson = '';

  /** @param pipeline the pipeline name every frame carries */
  constructor(pipeline: string) {
    this.#bodyStart = `{"pipeline":${JSON.stringify(pipeline)},"jobs":[`;
  }

  /** One Jobs frame of these jobs of `batch`, all dispatched at `dispatchedAt` (epoch ms). */
  encode(batch: string, dispatchedAt: number, jobs: readonly PreEncodedJob[]): Buffer {
    if (batch !== this.#batch) {
      this.#batch = batch;
      this.#batchJson = JSON.stringify(batch);
    }
    // Built as text: the payloads are JSON already, so nothing is stringified twice. The parts
    // shared by every job of the pack are joined once; keys in encode's order (batch, seq,
    // attempt, dispatchedAt, payload), so the frame is the one encode writes.
    const head = `{"batch":${this.#batchJson},"seq":`;
    const tail = `,"dispatchedAt":${dispatchedAt},"payload":`;
    let body = this.#bodyStart;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      body += `${i === 0 ? '' : ','}${head}${job.seq},"attempt":${job.attempt}${tail}${job.payloadJson}}`;
    }
    return encodeRaw('Jobs', `${body}]}`);
  }
}
