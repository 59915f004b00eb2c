import { describe, expect, it } from 'vitest';
import { Backlog } from './backlog.js';

const job = (seq: number, suspect = false) => ({ batch: 'b', seq, attempt: 1, payloadJson: 'null', ...(suspect ? { suspect } : {}) });

describe('Backlog', () => {
  it('counts every job out in one place: queued, being written ahead, in flight', () => {
    const suspects: ReturnType<typeof job>[] = [];
    const backlog = new Backlog(5, suspects);
    backlog.addFresh(job(0));
    backlog.comeBack([job(1), job(2, true)]);
    backlog.admitting = 1;
    backlog.inFlight.add(job(3), 1, 'w');
    expect([backlog.fresh.length, backlog.redeliveries.length, suspects.length]).toEqual([1, 1, 1]);
    expect(backlog.out).toBe(5);
    expect(backlog.full).toBe(true);
    // The reaper's room leaves out fresh jobs and packs being written ahead.
    expect(backlog.reapRoom()).toBe(5 - 1 - 1 - 1);
    expect(backlog.waiting().map((j) => j.seq)).toEqual([1, 2]);
  });

  it('wakes the split when the sink records jobs, and the dispatcher when suspects wait', async () => {
    const backlog = new Backlog(10, [job(9, true)]);
    backlog.inFlight.add(job(0), 1, 'w');
    const room = backlog.room.wait();
    const changed = backlog.changed.wait();
    backlog.recorded('b', [0, 0, 7]);
    await Promise.all([room, changed]);
    expect(backlog.inFlight.size).toBe(0);
  });

  it('takes back what a vanished worker held, and forgets a drained one without taking its jobs', () => {
    const backlog = new Backlog(10, []);
    for (let seq = 0; seq < 4; seq++) backlog.inFlight.add(job(seq), seq, seq % 2 ? 'odd' : 'even');
    expect(backlog.takeHeldBy('odd').map((e) => e.job.seq)).toEqual([1, 3]);
    expect(backlog.forgetHolder('even')).toBe(2);
    expect(backlog.inFlight.size).toBe(2); // still under their leases
    expect(backlog.out).toBe(2);
  });

  it('lets a batch queue its share while the backlog is full, so a small batch is not stuck behind a large one', () => {
    const backlog = new Backlog(4, [], 2);
    for (let seq = 0; seq < 4; seq++) backlog.addFresh(job(seq));
    expect(backlog.full).toBe(true);
    expect(backlog.mayAdd('b')).toBe(false); // the large batch has its share and more
    expect(backlog.mayAdd('small')).toBe(true);
    backlog.addFresh({ ...job(0), batch: 'small' });
    backlog.addFresh({ ...job(1), batch: 'small' });
    expect(backlog.mayAdd('small')).toBe(false);
    expect(backlog.out).toBe(6); // maxInFlight plus one share
  });

  it('drops what waits of a cancelled batch or of cancelled jobs, and says so for each of its jobs until the batch is done', () => {
    const suspects: ReturnType<typeof job>[] = [job(8, true)];
    const backlog = new Backlog(100, suspects);
    for (let seq = 0; seq < 4; seq++) backlog.addFresh(job(seq));
    backlog.addFresh({ ...job(0), batch: 'other' });
    backlog.comeBack([job(5), { ...job(6), batch: 'other' }]);
    expect(backlog.cancel('b', [1, 5])).toBe(2);
    expect([backlog.fresh.jobsOf('b').map((j) => j.seq), backlog.redeliveries.map((j) => `${j.batch}:${j.seq}`)]).toEqual([[0, 2, 3], ['other:6']]);
    expect([backlog.isCancelled('b', 1), backlog.isCancelled('b', 0), backlog.mayAdd('b')]).toEqual([true, false, true]);
    // The whole batch: the rest goes, its split may add nothing more.
    expect(backlog.cancel('b')).toBe(4);
    expect([backlog.fresh.length, suspects.length, backlog.isCancelled('b', 0), backlog.mayAdd('b'), backlog.mayAdd('other')]).toEqual([
      1,
      0,
      true,
      false,
      true,
    ]);
    backlog.forgetCancels('b');
    expect([backlog.isCancelled('b', 1), backlog.mayAdd('b')]).toEqual([false, true]);
  });
});
