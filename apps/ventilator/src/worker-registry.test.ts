import { describe, expect, it } from 'vitest';
import { WorkerRegistry } from './worker-registry.js';

const id = (name: string) => Buffer.from(name);

describe('WorkerRegistry', () => {
  it('gives a new session the credit the worker says it still expects', () => {
    const registry = new WorkerRegistry(1000);
    const session = registry.credit(id('w1'), 'w1', 10, 4, 0);
    expect(registry.available(session)).toBe(6);
  });

  it('picks sessions with credit in turn, none when all are used up or draining', () => {
    const registry = new WorkerRegistry(1000);
    const a = registry.credit(id('a'), 'a', 3, 0, 0);
    const b = registry.credit(id('b'), 'b', 5, 0, 0);
    expect([registry.pick(), registry.pick(), registry.pick()]).toEqual([a, b, a]);
    b.sent = 5;
    expect([registry.pick(), registry.pick()]).toEqual([a, a]);
    a.draining = true;
    expect(registry.pick()).toBeUndefined();
  });

  it('counts jobs reserved for a pack still being written ahead against the credit', () => {
    const registry = new WorkerRegistry(1000);
    const session = registry.credit(id('w'), 'w', 10, 0, 0);
    session.reserved = 6;
    expect(registry.available(session)).toBe(4);
    expect(registry.byKey(session.key)).toBe(session);
    session.reserved = 10;
    expect(registry.pick()).toBeUndefined();
  });

  it('forgets jobs lost on a broken connection once nothing was sent for two heartbeats', () => {
    const registry = new WorkerRegistry(1000);
    const session = registry.credit(id('w'), 'w', 10, 0, 0);
    session.sent = 10;
    session.lastSentAt = 1000;
    registry.credit(id('w'), 'w', 10, 4, 2000);
    expect(session.sent).toBe(10); // may still be on the wire
    registry.credit(id('w'), 'w', 10, 4, 3500);
    expect(session.sent).toBe(4);
    expect(registry.available(session)).toBe(6);
  });

  it('drops sessions silent for three heartbeats', () => {
    const registry = new WorkerRegistry(100);
    registry.credit(id('old'), 'old', 1, 0, 0);
    registry.credit(id('new'), 'new', 1, 0, 250);
    expect(registry.takeSilent(301).map((s) => s.workerId)).toEqual(['old']);
    expect(registry.size).toBe(1);
  });

  it('takes Drain as a sign of life, and stops sending to the session', () => {
    const registry = new WorkerRegistry(100);
    const session = registry.credit(id('w'), 'w', 8, 0, 0);
    session.sent = 5;
    const drained = registry.drain(id('w'), 'w', 250);
    expect(drained).toBe(session);
    expect(session.draining).toBe(true);
    expect(registry.available(session)).toBe(0);
    expect(session.lastSeenAt).toBe(250);
    // Repeated as the draining worker's heartbeat: the session stays.
    registry.drain(id('w'), 'w', 500);
    expect(registry.takeSilent(700)).toEqual([]);
    expect(registry.takeSilent(801)).toEqual([session]);
  });

  it("keeps nothing of a Drain from an unknown routing id (the ventilator answers it with the worker's own count)", () => {
    const registry = new WorkerRegistry(100);
    expect(registry.drain(id('forgotten'), 'w', 0)).toBeUndefined();
    expect(registry.size).toBe(0);
  });

  it('takes a smaller grant as the worker taking back credit: nothing more is sent until its grant passes what was sent', () => {
    const registry = new WorkerRegistry(100);
    const session = registry.credit(id('w'), 'w', 400, 0, 0);
    session.sent = 300;
    expect(registry.available(session)).toBe(100);
    registry.credit(id('w'), 'w', 103, 100, 10);
    expect(registry.available(session)).toBe(0);
    registry.credit(id('w'), 'w', 305, 300, 20);
    expect(registry.available(session)).toBe(5);
  });

  it('keeps credit in bytes once a worker grants it, with the same resynchronising rules as jobs (PROTOCOL.md 4a)', () => {
    const registry = new WorkerRegistry(100);
    const jobsOnly = registry.credit(id('old'), 'old', 8, 0, 0);
    expect([jobsOnly.bytes, registry.availableBytes(jobsOnly)]).toEqual([undefined, Number.POSITIVE_INFINITY]);
    // A session opened late starts where the worker says it is.
    const session = registry.credit(id('w'), 'w', 8, 0, 0, { grantedBytes: 5000, receivedBytes: 1000 });
    expect(registry.availableBytes(session)).toBe(4000);
    session.bytes!.sent += 3000;
    session.lastSentAt = 10;
    // A smaller grant is ignored; the worker received more than we count: trust it.
    registry.credit(id('w'), 'w', 8, 0, 20, { grantedBytes: 4000, receivedBytes: 4500 });
    expect([session.bytes!.granted, session.bytes!.sent]).toEqual([5000, 4500]);
    // Less than we sent, and nothing sent for two heartbeats: the rest was lost on the way.
    registry.credit(id('w'), 'w', 8, 0, 150, { grantedBytes: 6000, receivedBytes: 4200 });
    expect(session.bytes!.sent).toBe(4500);
    registry.credit(id('w'), 'w', 8, 0, 211, { grantedBytes: 6000, receivedBytes: 4200 });
    expect([session.bytes!.sent, registry.availableBytes(session)]).toEqual([4200, 1800]);
    // Waiting for bytes: no jobs for it until its next Credit.
    session.waitsForBytes = true;
    expect(registry.available(session)).toBe(0);
    registry.credit(id('w'), 'w', 8, 0, 250, { grantedBytes: 9000, receivedBytes: 4200 });
    expect(registry.available(session)).toBe(8);
  });
});
