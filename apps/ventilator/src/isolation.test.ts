import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.js';
import { Isolation } from './isolation.js';
import { WorkerRegistry } from './worker-registry.js';

const job = (seq: number) => ({ batch: 'b', seq, attempt: 2, payloadJson: 'null', suspect: true });

function setup(workers: number) {
  const registry = new WorkerRegistry(1000);
  const inFlight = new InFlight();
  const sessions = Array.from({ length: workers }, (_, i) => registry.credit(Buffer.from(`w${i}`), `w${i}`, 100, 0));
  return { registry, inFlight, sessions, isolation: new Isolation(registry, (key) => inFlight.heldBy(key)) };
}

describe('Isolation', () => {
  it('sends a suspect only to an idle worker, and nothing else to it while it holds the suspect', () => {
    const { inFlight, sessions, isolation } = setup(2);
    const [a, b] = sessions as [NonNullable<(typeof sessions)[0]>, NonNullable<(typeof sessions)[0]>];
    inFlight.add(job(0), 1, a.key);
    isolation.queue.push(job(9));
    const target = isolation.target();
    expect(target).toBe(b);
    inFlight.add(isolation.queue.shift()!, 2, b.key);
    expect(isolation.open(b)).toBe(false);
    expect(isolation.open(a)).toBe(true);
    // Done with the suspect: b is an ordinary worker again.
    inFlight.remove('b', 9);
    expect(isolation.open(b)).toBe(true);
  });

  it('with no worker idle, reserves the one holding the fewest jobs until it drains', () => {
    const { inFlight, sessions, isolation } = setup(3);
    const [a, b, c] = sessions as NonNullable<(typeof sessions)[0]>[];
    for (let seq = 0; seq < 3; seq++) inFlight.add(job(seq), 1, a!.key);
    inFlight.add(job(3), 1, b!.key);
    for (let seq = 4; seq < 6; seq++) inFlight.add(job(seq), 1, c!.key);
    isolation.queue.push(job(9));
    expect(isolation.target()).toBeUndefined();
    expect([a, b, c].map((s) => isolation.open(s!))).toEqual([true, false, true]);
    inFlight.remove('b', 3);
    expect(isolation.target()).toBe(b);
    isolation.queue.shift();
    // No suspect waits: nobody is reserved, and b is open again once its suspect is done.
    expect(isolation.target()).toBeUndefined();
    expect(isolation.open(a!)).toBe(true);
    expect(isolation.open(b!)).toBe(true);
  });

  it('forgets a worker that went away', () => {
    const { registry, inFlight, sessions, isolation } = setup(1);
    const a = sessions[0]!;
    inFlight.add(job(0), 1, a.key);
    isolation.queue.push(job(9));
    expect(isolation.target()).toBeUndefined();
    expect(isolation.open(a)).toBe(false);
    registry.remove(a);
    isolation.forget(a.key);
    expect(isolation.open(a)).toBe(true);
  });
});

describe('InFlight.heldBy', () => {
  it('counts the jobs each worker holds, moving a redispatched job to its new worker', () => {
    const inFlight = new InFlight();
    inFlight.add(job(0), 1, 'w1');
    inFlight.add(job(1), 1, 'w1');
    inFlight.add(job(0), 2, 'w2');
    expect([inFlight.heldBy('w1'), inFlight.heldBy('w2')]).toEqual([1, 1]);
    expect(inFlight.takeHeldBy('w1').map((entry) => entry.job.seq)).toEqual([1]);
    inFlight.forget('w1');
    expect(inFlight.takeHeldBy('w1')).toEqual([]);
    inFlight.add(job(2), 3, 'w1');
    expect(inFlight.heldBy('w1')).toBe(1);
    inFlight.takeExpired(10);
    expect([inFlight.heldBy('w1'), inFlight.heldBy('w2'), inFlight.size]).toEqual([0, 0, 0]);
  });
});
