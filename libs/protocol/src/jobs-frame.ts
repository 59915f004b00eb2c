import { encodeRaw, HEADER_BYTES } from './codec.js';
import { MessageType, PROTOCOL_VERSION } from './messages.js';

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
    // Keys in encode's order (batch, seq, attempt, dispatchedAt, payload), so the frame is the
    // one encode writes; the parts shared by every job of the pack are joined once.
    const head = `{"batch":${this.#batchJson},"seq":`;
    const tail = `,"dispatchedAt":${dispatchedAt},"payload":`;
    let payloadChars = 0;
    for (const job of jobs) payloadChars += job.payloadJson.length;
    return payloadChars >= LARGE_PAYLOADS_CHARS * jobs.length ? this.#writePieces(head, tail, jobs) : this.#joinText(head, tail, jobs);
  }

  /** Small payloads: the body built as text and encoded once (as fast as pieces at 100 bytes a job). */
  #joinText(head: string, tail: string, jobs: readonly PreEncodedJob[]): Buffer {
    let body = this.#bodyStart;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      body += `${i === 0 ? '' : ','}${head}${job.seq},"attempt":${job.attempt}${tail}${job.payloadJson}}`;
    }
    return encodeRaw('Jobs', `${body}]}`);
  }

  /**
   * Larger payloads: each piece written straight into a frame of the exact size. Joined as text,
   * a 4 MB body was flattened and encoded as a whole: a fifth of a durable ventilator's time at
   * 10 KB a job and most of its garbage; 76 against 15 µs a job at 10 KB, 7 against 2 at 1 KB
   * (docs/benchmarks.md, tenth pass).
   */
  #writePieces(head: string, tail: string, jobs: readonly PreEncodedJob[]): Buffer {
    const fields = new Array<string>(jobs.length);
    let size = HEADER_BYTES + Buffer.byteLength(this.#bodyStart) + 2;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      fields[i] = `${i === 0 ? '' : ','}${head}${job.seq},"attempt":${job.attempt}${tail}`;
      size += Buffer.byteLength(fields[i]!) + Buffer.byteLength(job.payloadJson) + 1;
    }
    const frame = Buffer.allocUnsafe(size);
    frame[0] = PROTOCOL_VERSION;
    frame[1] = MessageType.Jobs;
    let at = HEADER_BYTES + frame.write(this.#bodyStart, HEADER_BYTES);
    for (let i = 0; i < jobs.length; i++) {
      at += frame.write(fields[i]!, at);
      at += frame.write(jobs[i]!.payloadJson, at);
      frame[at++] = CLOSE_BRACE;
    }
    frame.write(']}', at);
    return frame;
  }
}

/** Payloads of this many characters on average, or more, are written piece by piece (`#writePieces`). */
const LARGE_PAYLOADS_CHARS = 256;
const CLOSE_BRACE = 0x7d;
