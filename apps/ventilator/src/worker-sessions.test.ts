import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '@jobpipe/observability';
import type { InFlightJob } from '@jobpipe/ledger';
import { Backlog } from './backlog.js';
import { Isolation } from './isolation.js';
import { WorkerRegistry } from './worker-registry.js';
import { SESSION_LINES_PER_10_S, WorkerSessions } from './worker-sessions.js';

const id = (name: string) => Buffer.from(name);
const job = (seq: number) => ({ batch: 'b', seq, attempt: 1, payloadJson: 'null' });

function setup(heartbeatMs = 1000, logger: Logger = createLogger('test', 'silent')) {
  const workers = new WorkerRegistry(heartbeatMs);
  const isolation: Isolation = new Isolation(workers, (key) => backlog.inFlight.heldBy(key));
  const backlog: Backlog = new Backlog({ maxInFlight: 100 }, isolation.queue);
  const released: [number[], string, string][] = [];
  const sessions = new WorkerSessions({
    workers,
    isolation,
    backlog,
    reaper: { release: async (held: InFlightJob[], worker: string, why: string) => void released.push([held.map((e) => e.job.seq), worker, why]) },
    logger,
    leaseMs: 60_000,
  });
  return { workers, backlog, sessions, released };
}

describe('WorkerSessions', () => {
  it('logs joins a hundred in 10 s at most: a peer opening sessions by the thousand cannot flood the log', () => {
    const lines: [string, Record<string, unknown>][] = [];
    const log = (fields: Record<string, unknown>, message: string) => void lines.push([message, fields]);
    const { workers, sessions } = setup(1000, { info: log, warn: log, error: log, debug: log } as unknown as Logger);
    for (let i = 0; i < 3 * SESSION_LINES_PER_10_S; i++) sessions.credit(id(`s${i}`), 'rogue', 1, 0);
    expect(workers.size).toBe(3 * SESSION_LINES_PER_10_S);
    expect(lines.filter(([message]) => message === 'worker joined')).toHaveLength(SESSION_LINES_PER_10_S);
  });

  it('opens a session on Credit and wakes the dispatcher when it has credit', async () => {
    const { workers, backlog, sessions } = setup();
    const woken = backlog.changed.wait();
    sessions.credit(id('w'), 'w', 5, 0);
    await woken;
    expect(workers.available(workers.get(id('w'))!)).toBe(5);
  });

  it('gives a Drain the count sent, once the packs being written ahead have left', async () => {
    const { workers, sessions } = setup();
    sessions.credit(id('w'), 'w', 10, 0);
    const session = workers.get(id('w'))!;
    session.sent = 4;
    session.reserved = 3;
    let answered: number | undefined;
    const answer = sessions.drain(id('w'), 'w')!.then((sent) => (answered = sent));
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(answered).toBeUndefined();
    expect(workers.available(session)).toBe(0);
    session.reserved = 0;
    session.sent = 7;
    sessions.packLeft(session);
    await answer;
    expect(answered).toBe(7);
    // Repeated as its heartbeat: the same answer each time.
    expect(await sessions.drain(id('w'), 'w')).toBe(7);
  });

  it('knows nothing of a Drain from an unknown session', () => {
    const { sessions } = setup();
    expect(sessions.drain(id('ghost'), 'g')).toBeUndefined();
  });

  it('takes back the jobs of a session silent for 3 heartbeats', async () => {
    const { workers, backlog, sessions, released } = setup(1);
    sessions.credit(id('w'), 'w', 10, 0);
    const key = workers.get(id('w'))!.key;
    backlog.inFlight.add(job(0), 0, key);
    backlog.inFlight.add(job(1), 0, key);
    await new Promise((resolve) => setTimeout(resolve, 10));
    sessions.dropSilent();
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(workers.size).toBe(0);
    expect(released).toEqual([[[0, 1], 'w', 'silent for 3 heartbeats']]);
    expect(backlog.inFlight.size).toBe(0);
  });

  it('forgets a silent draining session without taking its jobs back: they keep their leases', async () => {
    const { workers, backlog, sessions, released } = setup(1);
    sessions.credit(id('w'), 'w', 10, 0);
    backlog.inFlight.add(job(0), 0, workers.get(id('w'))!.key);
    void sessions.drain(id('w'), 'w');
    await new Promise((resolve) => setTimeout(resolve, 10));
    sessions.dropSilent();
    expect(workers.size).toBe(0);
    expect(released).toEqual([]);
    expect(backlog.inFlight.size).toBe(1);
  });

  it('forgets an unreachable session and releases what it held', async () => {
    const { workers, backlog, sessions, released } = setup();
    sessions.credit(id('w'), 'w', 10, 0);
    const session = workers.get(id('w'))!;
    backlog.inFlight.add(job(3), 0, session.key);
    await sessions.lost(session, 'unreachable');
    expect(released).toEqual([[[3], 'w', 'unreachable']]);
    expect(workers.size).toBe(0);
  });
});
