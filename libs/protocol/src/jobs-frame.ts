import { encodeRaw, HEADER_BYTES } from './codec.js';
import { MessageType, PROTOCOL_VERSION } from './messages.js';

/**
 * A payload as JSON text already: a string, or for a larger one its UTF-8 bytes (`heldPayload`).
 * Either is written into a frame or a write-ahead without being parsed or stringified again.
 */
export type PayloadJson = string | Buffer;

/** A job for `JobsFrameEncoder`: its payload is JSON text already (`null` for no payload). */
export interface PreEncodedJob {
  readonly seq: number;
  readonly attempt: number;
  /** `JSON.stringify(payload)`, with an undefined payload sent as `null` (PROTOCOL.md 3.1). */
  readonly payloadJson: PayloadJson;
}

/** Payloads of this many characters or more are held as bytes (`heldPayload`) and written piece by piece. */
export const LARGE_PAYLOAD_CHARS = 256;

/**
 * How a process that holds many payloads for a while (a ventilator's queues) should keep this
 * one: a larger payload as its UTF-8 bytes, outside the JavaScript heap. Held as strings, payloads
 * that waited long enough to be promoted piled up in the old generation until the next full
 * collection: a ventilator with 16 MB of 100 KB payloads waiting reached 300 MB. Bytes are freed
 * as their small handles are collected, and V8 collects sooner as outside memory grows. Small
 * payloads stay strings: a buffer each costs more than it saves at 100 bytes.
 */
export function heldPayload(json: string): PayloadJson {
  return json.length < LARGE_PAYLOAD_CHARS ? json : Buffer.from(json);
}

/** A held payload as text again (for JSON.parse, or a string-only store). */
export function payloadText(payload: PayloadJson): string {
  return typeof payload === 'string' ? payload : payload.toString('utf8');
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

  /**
   * One Jobs frame of these jobs of `batch`, all dispatched at `dispatchedAt` (epoch ms).
   * `traceparents`: the W3C trace context of the jobs that are traced, by seq (PROTOCOL.md 3.1,
   * "Trace context"), written as each job's last field; the others carry none.
   */
  encode(batch: string, dispatchedAt: number, jobs: readonly PreEncodedJob[], traceparents?: ReadonlyMap<number, string>): Buffer {
    if (batch !== this.#batch) {
      this.#batch = batch;
      this.#batchJson = JSON.stringify(batch);
    }
    // Keys in encode's order (batch, seq, attempt, dispatchedAt, payload), so the frame is the
    // one encode writes; the parts shared by every job of the pack are joined once.
    const head = `{"batch":${this.#batchJson},"seq":`;
    const tail = `,"dispatchedAt":${dispatchedAt},"payload":`;
    let payloadChars = 0;
    let bytes = false;
    for (const job of jobs) {
      payloadChars += job.payloadJson.length;
      if (typeof job.payloadJson !== 'string') bytes = true;
    }
    return bytes || payloadChars >= LARGE_PAYLOAD_CHARS * jobs.length
      ? this.#writePieces(head, tail, jobs, traceparents)
      : this.#joinText(head, tail, jobs, traceparents);
  }

  /** Small payloads, all strings: the body built as text and encoded once (as fast as pieces at 100 bytes a job). */
  #joinText(head: string, tail: string, jobs: readonly PreEncodedJob[], traceparents: ReadonlyMap<number, string> | undefined): Buffer {
    let body = this.#bodyStart;
    if (traceparents === undefined) {
      // No job traced (tracing off, or none sampled): nothing looked up per job.
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!;
        body += `${i === 0 ? '' : ','}${head}${job.seq},"attempt":${job.attempt}${tail}${job.payloadJson}}`;
      }
    } else {
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!;
        body += `${i === 0 ? '' : ','}${head}${job.seq},"attempt":${job.attempt}${tail}${job.payloadJson}${closing(traceparents, job.seq)}`;
      }
    }
    return encodeRaw('Jobs', `${body}]}`);
  }

  /**
   * Larger payloads: each piece written straight into a frame of the exact size. Joined as text,
   * a 4 MB body was flattened and encoded as a whole: a fifth of a durable ventilator's time at
   * 10 KB a job and most of its garbage; 76 against 15 µs a job at 10 KB, 7 against 2 at 1 KB
   * (docs/benchmarks.md, tenth pass).
   */
  #writePieces(head: string, tail: string, jobs: readonly PreEncodedJob[], traceparents: ReadonlyMap<number, string> | undefined): Buffer {
    const fields = new Array<string>(jobs.length);
    const closings = traceparents && new Array<string>(jobs.length);
    let size = HEADER_BYTES + Buffer.byteLength(this.#bodyStart) + 2;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      fields[i] = `${i === 0 ? '' : ','}${head}${job.seq},"attempt":${job.attempt}${tail}`;
      size += Buffer.byteLength(fields[i]!) + Buffer.byteLength(job.payloadJson);
      if (closings) size += (closings[i] = closing(traceparents, job.seq)).length;
      else size += 1;
    }
    const frame = Buffer.allocUnsafe(size);
    frame[0] = PROTOCOL_VERSION;
    frame[1] = MessageType.Jobs;
    let at = HEADER_BYTES + frame.write(this.#bodyStart, HEADER_BYTES);
    for (let i = 0; i < jobs.length; i++) {
      at += frame.write(fields[i]!, at);
      const payload = jobs[i]!.payloadJson;
      at += typeof payload === 'string' ? frame.write(payload, at) : payload.copy(frame, at);
      if (closings) at += frame.write(closings[i]!, at, 'latin1');
      else frame[at++] = CLOSE_BRACE;
    }
    frame.write(']}', at);
    return frame;
  }
}

const CLOSE_BRACE = 0x7d;

/** What ends a job: its traceparent (ASCII, checked by the pattern), if it has one, then `}`. */
function closing(traceparents: ReadonlyMap<number, string> | undefined, seq: number): string {
  const traceparent = traceparents?.get(seq);
  return traceparent === undefined ? '}' : `,"traceparent":${JSON.stringify(traceparent)}}`;
}
