import { describe, expect, it } from 'vitest';
import { decode, encode, topicOf } from './codec.js';
import type { Message } from './messages.js';

const bodyText = (frame: Buffer): string => frame.subarray(2).toString('utf8');

describe('encode: undefined payload and value are sent as null', () => {
  it('a job whose payload is undefined', () => {
    const message: Message = {
      type: 'Jobs',
      pipeline: 'p',
      jobs: [
        { batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: undefined },
        { batch: 'b', seq: 1, attempt: 1, dispatchedAt: 0, payload: 2 },
      ],
    };
    const frame = encode(message);
    expect(bodyText(frame)).toBe(
      '{"pipeline":"p","jobs":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"payload":null},{"batch":"b","seq":1,"attempt":1,"dispatchedAt":0,"payload":2}]}',
    );
    const decoded = decode(frame);
    expect(decoded.ok && decoded.message).toStrictEqual({ ...message, jobs: [{ ...message.jobs[0], payload: null }, message.jobs[1]] });
    expect(message.jobs[0]).toHaveProperty('payload', undefined); // the caller's message is not changed
    expect(message.jobs[0]!.payload).toBeUndefined();
  });

  it('an ok result whose value is undefined; a failed result gets no value', () => {
    const base = { batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, durationMs: 1 };
    const frame = encode({
      type: 'Results',
      pipeline: 'p',
      worker: 'w',
      results: [
        { ...base, ok: true, value: undefined },
        { ...base, seq: 1, ok: false, error: { name: 'E', message: 'm' } },
      ],
    });
    expect(bodyText(frame)).toBe(
      '{"pipeline":"p","worker":"w","results":[{"batch":"b","seq":0,"attempt":1,"dispatchedAt":0,"durationMs":1,"ok":true,"value":null},' +
        '{"batch":"b","seq":1,"attempt":1,"dispatchedAt":0,"durationMs":1,"ok":false,"error":{"name":"E","message":"m"}}]}',
    );
    expect(decode(frame).ok).toBe(true);
  });

  it('undefined inside a payload follows JSON.stringify (object keys dropped, array items null)', () => {
    const frame = encode({
      type: 'Jobs',
      pipeline: 'p',
      jobs: [{ batch: 'b', seq: 0, attempt: 1, dispatchedAt: 0, payload: { a: undefined, b: [undefined] } }],
    });
    expect(bodyText(frame)).toContain('"payload":{"b":[null]}');
  });
});

describe('topicOf', () => {
  it('is the two header bytes, a prefix of every frame of that type', () => {
    expect([...topicOf('BatchCompleted')]).toEqual([1, 0x11]);
    expect([...topicOf('Recorded')]).toEqual([1, 0x12]);
    const frame = encode({ type: 'BatchProgress', batch: 'b', pipeline: 'p', done: 0, failed: 0, total: null });
    expect(frame.subarray(0, 2).equals(topicOf('BatchProgress'))).toBe(true);
  });
});
