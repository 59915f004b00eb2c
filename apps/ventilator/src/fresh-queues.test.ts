import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { PendingJob } from '@jobpipe/ledger';
import { FreshQueues, LOWEST_PRIORITY } from './fresh-queues.js';

const job = (batch: string, seq: number): PendingJob => ({ batch, seq, attempt: 1, payloadJson: 'null' });

/** Takes packs of up to `size` until nothing waits; returns each pack as `batch:first-last`. */
function drain(queues: FreshQueues, size: number): string[] {
  const packs: string[] = [];
  for (let source = queues.next(); source; source = queues.next()) {
    const taken = source.take(Math.min(size, source.jobs.length));
    packs.push(`${taken[0]!.batch}:${taken[0]!.seq}-${taken.at(-1)!.seq}`);
  }
  return packs;
}

describe('FreshQueues', () => {
  it('gives each batch of one priority a pack in turn, so a small batch goes after one pack of a large one', () => {
    const queues = new FreshQueues();
    for (let seq = 0; seq < 6; seq++) queues.push(job('big', seq));
    queues.push(job('small', 0));
    expect(queues.length).toBe(7);
    expect(drain(queues, 2)).toEqual(['big:0-1', 'small:0-0', 'big:2-3', 'big:4-5']);
    expect(queues.length).toBe(0);
  });

  it('takes the highest priority first (1 the highest; none the lowest), in turn within it', () => {
    const queues = new FreshQueues();
    queues.setPriority('urgent', 1);
    queues.setPriority('normal', 5);
    queues.setPriority('other', 5);
    for (const batch of ['none', 'normal', 'other', 'urgent']) for (let seq = 0; seq < 2; seq++) queues.push(job(batch, seq));
    expect(drain(queues, 1)).toEqual(['urgent:0-0', 'urgent:1-1', 'normal:0-0', 'other:0-0', 'normal:1-1', 'other:1-1', 'none:0-0', 'none:1-1']);
  });

  it('puts back what could not go at the front of its batch', () => {
    const queues = new FreshQueues();
    for (let seq = 0; seq < 4; seq++) queues.push(job('b', seq));
    const source = queues.next()!;
    const taken = source.take(4);
    expect(queues.length).toBe(0);
    source.putBack(taken.splice(2));
    expect([queues.length, queues.jobsOf('b').map((j) => j.seq)]).toEqual([2, [2, 3]]);
    expect(drain(queues, 10)).toEqual(['b:2-3']);
  });

  it('forgets a done batch: its priority goes, a later job of that id starts as the lowest', () => {
    const queues = new FreshQueues();
    queues.setPriority('b', 1);
    queues.setPriority('c', 2);
    queues.push(job('c', 0));
    queues.forget('b');
    queues.push(job('b', 0));
    expect(drain(queues, 1)).toEqual(['c:0-0', 'b:0-0']);
    expect(LOWEST_PRIORITY).toBe(2_097_152);
  });

  it('drops the waiting jobs of a batch, all or some, and takes an emptied batch out of the rotation', () => {
    const queues = new FreshQueues();
    for (let seq = 0; seq < 4; seq++) queues.push(job('a', seq));
    queues.push(job('b', 0));
    expect(queues.drop('a', new Set([1, 3, 9]))).toBe(2);
    expect([queues.length, queues.jobsOf('a').map((j) => j.seq)]).toEqual([3, [0, 2]]);
    expect(queues.drop('b')).toBe(1);
    expect(queues.drop('none')).toBe(0);
    expect(drain(queues, 10)).toEqual(['a:0-2']);
  });

  it('counts the jobs waiting at each priority that has some, highest first', () => {
    const queues = new FreshQueues();
    queues.setPriority('u', 1);
    for (const batch of ['u', 'x', 'y', 'y']) queues.push(job(batch, queues.queued(batch)));
    expect([...queues.waitingByPriority()]).toEqual([
      [1, 1],
      [LOWEST_PRIORITY, 3],
    ]);
    drain(queues, 10);
    expect([...queues.waitingByPriority()]).toEqual([]);
  });

  it('never loses or repeats a job, and keeps each batch in order, whatever is pushed, taken and put back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ push: fc.constantFrom('a', 'b', 'c') }), fc.record({ take: fc.integer({ min: 1, max: 4 }), back: fc.nat(3) })), {
          maxLength: 60,
        }),
        fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 3 })),
        (steps, priorities) => {
          const queues = new FreshQueues();
          for (const [batch, priority] of Object.entries(priorities)) queues.setPriority(batch, priority);
          const next = { a: 0, b: 0, c: 0 } as Record<string, number>;
          const out: PendingJob[] = [];
          for (const step of steps) {
            if ('push' in step) queues.push(job(step.push, next[step.push]!++));
            else {
              const source = queues.next();
              if (!source) continue;
              const taken = source.take(Math.min(step.take, source.jobs.length));
              source.putBack(taken.splice(Math.max(1, taken.length - step.back)));
              out.push(...taken);
            }
          }
          for (let source = queues.next(); source; source = queues.next()) out.push(...source.take(source.jobs.length));
          expect(queues.length).toBe(0);
          for (const batch of ['a', 'b', 'c']) {
            expect(out.filter((j) => j.batch === batch).map((j) => j.seq)).toEqual([...Array(next[batch]).keys()]);
          }
        },
      ),
    );
  });
});
