import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.js';

const job = (batch: string, seq: number) => ({ batch, seq, attempt: 1, payloadJson: 'null' });

describe('InFlight', () => {
  it('counts jobs once and removes them on ack', () => {
    const inFlight = new InFlight();
    inFlight.add(job('a', 0), 1, 'w1');
    inFlight.add(job('a', 0), 2, 'w2'); // redispatch of the same job
    inFlight.add(job('b', 0), 1, 'w1');
    expect(inFlight.size).toBe(2);
    expect(inFlight.remove('a', 0)).toBe(true);
    expect(inFlight.remove('a', 0)).toBe(false);
    expect(inFlight.remove('zzz', 0)).toBe(false);
    expect(inFlight.size).toBe(1);
  });

  it('hands back what a worker held', () => {
    const inFlight = new InFlight();
    for (let seq = 0; seq < 6; seq++) inFlight.add(job('a', seq), seq, seq % 2 ? 'odd' : 'even');
    expect(inFlight.takeHeldBy('odd').map((e) => e.job.seq)).toEqual([1, 3, 5]);
    expect(inFlight.size).toBe(3);
    expect(inFlight.takeHeldBy('odd')).toEqual([]);
  });

  it('expires jobs in dispatch order, a redispatched job counting from its new time', () => {
    const inFlight = new InFlight();
    inFlight.add(job('a', 0), 10, 'w');
    inFlight.add(job('a', 1), 20, 'w');
    inFlight.add(job('a', 2), 30, 'w');
    inFlight.add(job('a', 0), 40, 'w');
    expect(inFlight.takeExpired(25).map((e) => e.job.seq)).toEqual([1]);
    expect(inFlight.takeExpired(100).map((e) => e.job.seq)).toEqual([2, 0]);
    expect(inFlight.size).toBe(0);
  });

  it('expires at most `limit` jobs a call, across batches', () => {
    const inFlight = new InFlight();
    for (let seq = 0; seq < 3; seq++) inFlight.add(job('a', seq), seq, 'w');
    for (let seq = 0; seq < 3; seq++) inFlight.add(job('b', seq), seq, 'w');
    expect(inFlight.takeExpired(100, 4).map((e) => `${e.job.batch}${e.job.seq}`)).toEqual(['a0', 'a1', 'a2', 'b0']);
    expect(inFlight.takeExpired(100, 4).map((e) => `${e.job.batch}${e.job.seq}`)).toEqual(['b1', 'b2']);
    expect(inFlight.size).toBe(0);
  });
});
