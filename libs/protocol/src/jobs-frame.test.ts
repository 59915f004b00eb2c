import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from './codec.js';
import { heldPayload, JOB_OVERHEAD_BYTES, JOBS_FRAME_SLACK_BYTES, JobsFrameEncoder, type PayloadJson, type PreEncodedJob } from './jobs-frame.js';
import type { Job, MessageOf } from './messages.js';

interface ValidVector {
  name: string;
  hex: string;
  message: { type: string } & Record<string, unknown>;
  decodeOnly?: boolean;
}
const valid = JSON.parse(readFileSync(new URL('../vectors/valid.json', import.meta.url), 'utf8')) as ValidVector[];
const jobsVectors = valid.filter((v) => v.message.type === 'Jobs' && !v.decodeOnly) as (ValidVector & { message: MessageOf<'Jobs'> })[];

/** The encoder's input for a message whose jobs share a batch and a dispatchedAt, as the ventilator sends them. */
function encoderFrame(message: MessageOf<'Jobs'>, encoder = new JobsFrameEncoder(message.pipeline), hold = (json: string): PayloadJson => json): Buffer {
  const [{ batch, dispatchedAt }] = message.jobs as [Job];
  const jobs: PreEncodedJob[] = message.jobs.map((job) => ({ seq: job.seq, attempt: job.attempt, payloadJson: hold(JSON.stringify(job.payload ?? null)) }));
  const traced = message.jobs.filter((job) => job.traceparent !== undefined);
  const traceparents = traced.length > 0 ? new Map(traced.map((job) => [job.seq, job.traceparent!])) : undefined;
  return encoder.encode(batch, dispatchedAt, jobs, traceparents);
}

describe('JobsFrameEncoder', () => {
  it('has Jobs vectors to check, packed ones among them', () => {
    expect(jobsVectors.length).toBeGreaterThanOrEqual(3);
    expect(jobsVectors.some((v) => v.message.jobs.length > 1)).toBe(true);
  });

  it.each(jobsVectors.map((v) => [v.name, v] as const))('writes the frame of the vector %s, as encode does, and decode reads it back', (_name, v) => {
    const frame = encoderFrame(v.message);
    expect(frame.toString('hex')).toBe(v.hex);
    expect(frame.equals(encode(v.message))).toBe(true);
    const decoded = decode(frame, { accept: ['Jobs'] });
    if (!decoded.ok) throw decoded.error;
    expect(decoded.message).toStrictEqual(v.message);
  });

  it('writes the traceparents of the traced jobs of a pack, as encode does, for small and large payloads', () => {
    const traceparent = (seq: number) => `00-4bf92f3577b34da6a3ce929d0e0e4736-${seq.toString(16).padStart(16, '0')}-01`;
    for (const payload of ['x', 'y'.repeat(1000)]) {
      for (const hold of [(json: string): PayloadJson => json, heldPayload]) {
        const message: MessageOf<'Jobs'> = {
          type: 'Jobs',
          pipeline: 'p',
          jobs: [0, 1, 2, 3].map((seq) => ({
            batch: 'b',
            seq,
            attempt: 1,
            dispatchedAt: 5,
            payload,
            ...(seq % 2 === 1 ? { traceparent: traceparent(seq) } : {}),
          })),
        };
        const frame = encoderFrame(message, undefined, hold);
        expect(frame.equals(encode(message))).toBe(true);
        const decoded = decode(frame, { accept: ['Jobs'] });
        if (!decoded.ok) throw decoded.error;
        expect(decoded.message).toStrictEqual(message);
      }
    }
  });

  it('writes each batch id of its own when packs of several batches alternate', () => {
    const encoder = new JobsFrameEncoder('p');
    const message = (batch: string, seq: number): MessageOf<'Jobs'> => ({
      type: 'Jobs',
      pipeline: 'p',
      jobs: [{ batch, seq, attempt: 1, dispatchedAt: 5, payload: seq }],
    });
    for (const [batch, seq] of [
      ['a', 0],
      ['b', 1],
      ['a', 2],
      ['a', 3],
      ['b"\\', 4],
    ] as const) {
      expect(encoderFrame(message(batch, seq), encoder).equals(encode(message(batch, seq)))).toBe(true);
    }
  });

  const id = fc.oneof(
    fc.string({ minLength: 1, maxLength: 200 }),
    fc.string({ unit: fc.constantFrom('a', '"', '\\', '\u0000', '\n', '\u2028', 'é', '😀', '\ud800', '\udfff'), minLength: 1, maxLength: 100 }),
  );
  const json = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown); // no -0: JSON has none
  const epochMs = fc.oneof(
    fc.integer({ min: 0, max: 4_102_444_800_000 }),
    fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map((x) => x + 0),
  );
  const message: fc.Arbitrary<MessageOf<'Jobs'>> = fc
    .record({
      pipeline: id,
      batch: id,
      dispatchedAt: epochMs,
      jobs: fc.array(fc.record({ seq: fc.maxSafeNat(), attempt: fc.integer({ min: 1, max: 1_000_000 }), payload: json }, { noNullPrototype: true }), {
        minLength: 1,
        maxLength: 8,
      }),
    })
    .map(({ pipeline, batch, dispatchedAt, jobs }) => ({
      type: 'Jobs' as const,
      pipeline,
      jobs: jobs.map((job) => ({ batch, seq: job.seq, attempt: job.attempt, dispatchedAt, payload: job.payload })),
    }));

  it('writes what encode writes for any message of one batch and one dispatchedAt, and decode reads it back', () => {
    fc.assert(
      fc.property(message, (m) => {
        const frame = encoderFrame(m);
        expect(frame.equals(encode(m))).toBe(true);
        const decoded = decode(frame, { accept: ['Jobs'] });
        if (!decoded.ok) throw decoded.error;
        expect(decoded.message).toStrictEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('writes what encode writes for payloads large enough to be written piece by piece, held as text or as bytes, any characters in them', () => {
    const text = fc.string({ unit: fc.constantFrom('x', '"', '\\', '\n', 'é', '€', '😀', '\ud800'), minLength: 300, maxLength: 3000 });
    const large = message.chain((m) =>
      fc.array(text, { minLength: m.jobs.length, maxLength: m.jobs.length }).map((texts) => ({
        ...m,
        jobs: m.jobs.map((job, i) => ({ ...job, payload: { value: job.payload ?? null, text: texts[i]! } })),
      })),
    );
    fc.assert(
      fc.property(large, fc.boolean(), (m, asHeld) => {
        // As a split holds them (bytes), or as text.
        const frame = encoderFrame(m, undefined, asHeld ? heldPayload : undefined);
        expect(frame.equals(encode(m))).toBe(true);
        const decoded = decode(frame, { accept: ['Jobs'] });
        if (!decoded.ok) throw decoded.error;
        expect(decoded.message).toStrictEqual(m);
      }),
      { numRuns: 200 },
    );
  });

  it('stays within the size packing adds up (ASCII ids, seqs up to 14 digits, dispatchedAt a whole epoch ms)', () => {
    const ascii = fc.stringMatching(/^[A-Za-z0-9._:-]{1,100}$/);
    fc.assert(
      fc.property(
        ascii,
        ascii,
        fc.integer({ min: 0, max: 9_999_999_999_999 }),
        fc.array(
          fc.record({
            seq: fc.integer({ min: 0, max: 99_999_999_999_999 }),
            attempt: fc.integer({ min: 1, max: 1_000_000 }),
            payloadJson: json.map((p) => JSON.stringify(p)),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (pipeline, batch, dispatchedAt, jobs) => {
          const frame = new JobsFrameEncoder(pipeline).encode(batch, dispatchedAt, jobs);
          const added = jobs.reduce((bytes, job) => bytes + Buffer.byteLength(job.payloadJson) + JOB_OVERHEAD_BYTES + batch.length, JOBS_FRAME_SLACK_BYTES);
          expect(frame.length).toBeLessThanOrEqual(added);
        },
      ),
      { numRuns: 300 },
    );
  });
});
